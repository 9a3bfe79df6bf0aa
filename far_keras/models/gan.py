"""FAR-GAN: a sigmoid GAN with a zero-centred gradient penalty and FAR selection.

``train_step`` follows the paper's algorithm (section 5, eq. 11-12): k
discriminator steps, each on N0 = N − M0 real samples plus the M0 lowest-scored of
M1 fresh candidates, with λ·0GP on that real side; then one non-saturating
generator step. ``num_far=0`` gives plain GAN-0GP-sample (or no penalty / 0GP-
interpolation with ``regularizer``).

Randomness is counter-based and replica-aware: see ``models/base.py``.
"""

import dataclasses

import keras
import tensorflow as tf

from far_keras.models.base import AdversarialModel, averaged_copy, local_slice, replica_info
from far_keras.nets import mlp, resnet
from far_keras.objectives import far, gan_losses, penalties
from far_keras.rng import RNG_ALG

# Streams of the counter-based RNG within one train step.
_FAKE, _CANDIDATES, _ALPHA, _GEN = range(4)


class FARGAN(AdversarialModel):
    """Generator G and discriminator D0 (logits) trained with eq. (12).

    Args:
      generator: z [B, latent_dim] → samples.
      discriminator: samples → logits D0 [B, 1].
      latent_dim: dimension of z ~ N(0, I).
      batch_size: N, the global real-side batch (= M, the fake batch).
      regularizer: 'none', 'real' (0GP-sample, on D_r ∪ D_FAR) or 'interpolation'.
      reg_weight: λ.
      penalty_target: 'logit' (‖∇D0‖², eq. 12 as printed) or 'probability'
        (‖∇σ(D0)‖², the synthetic reference code); see ``objectives/penalties.py``.
      num_far: M0 (0 disables FAR).
      penalize_far: with 'real', whether the penalty covers D_FAR's rows too (eq. 12);
        False penalises the N0 true real rows only (the FAR mechanism ablation).
      num_candidates: M1.
      d_steps: discriminator minibatches per generator update.
      seed: base of the counter-based RNG.

    The data: each training step takes ``real_batch_size`` = d_steps × N0 real
    rows, N0 = N − M0 (the model adds the M0 FAR samples to the real side itself).
    Batch ``fit``'s data in exactly that many rows; any other count, the last
    partial batch of an epoch included, is an error naming both numbers, raised
    before anything trains on it. Labels in (x, y) batches are ignored. Then
    ``compile(d_optimizer, g_optimizer)`` and ``fit``:

    >>> import keras, numpy as np
    >>> from far_keras import FARGAN, mlp_discriminator, mlp_generator
    >>> model = FARGAN(mlp_generator(latent_dim=2, hidden_units=16),
    ...                mlp_discriminator(hidden_units=16), latent_dim=2,
    ...                batch_size=64, num_far=16, num_candidates=128)
    >>> model.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    >>> model.real_batch_size  # N0 = N − M0 = 64 − 16
    48
    >>> x = np.random.default_rng(0).normal(size=(480, 2)).astype("float32")
    >>> history = model.fit(x, batch_size=model.real_batch_size, verbose=0)
    >>> model.current_step()
    10
    >>> model.fit(x, batch_size=64)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: FARGAN got fit(batch_size=64); it takes 48 per training step: ...
    >>> samples = model.generator(np.zeros((5, 2), "float32"))  # or model.export(dir)
    """

    def __init__(self, generator, discriminator, *, latent_dim, batch_size,
                 regularizer="real", reg_weight=10.0, num_far=16, num_candidates=256,
                 d_steps=1, seed=0, penalty_target="logit", penalize_far=True, **kwargs):
        super().__init__(**kwargs)
        if regularizer not in penalties.REGULARIZER_FUNCTIONS:
            raise ValueError("regularizer must be one of "
                             f"{tuple(penalties.REGULARIZER_FUNCTIONS)}, got {regularizer!r}")
        if penalty_target not in penalties.PENALTY_TARGETS:
            raise ValueError(f"penalty_target must be one of {penalties.PENALTY_TARGETS}, "
                             f"got {penalty_target!r}")
        if not 0 <= num_far < batch_size or (num_far and num_far > num_candidates):
            raise ValueError(f"need 0 <= num_far (M0) < batch_size (N) and M0 <= "
                             f"num_candidates (M1); got M0={num_far}, N={batch_size}, "
                             f"M1={num_candidates}")
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.batch_size = batch_size
        self.regularizer = regularizer
        self.reg_weight = reg_weight
        self.penalty_target = penalty_target
        if not penalize_far and (regularizer != "real" or not num_far):
            raise ValueError("penalize_far=False (penalty on the true real rows only) needs "
                             f"regularizer='real' and num_far > 0; got regularizer="
                             f"{regularizer!r}, num_far={num_far}")
        self.penalize_far = penalize_far
        self.num_far = num_far
        self.num_candidates = num_candidates
        self.d_steps = d_steps
        self.seed = seed
        names = ["d_loss", "g_loss", "reg", "d_real", "d_fake", "g_grad_norm"]
        if num_far:
            names.append("d_far")
        self.trackers = {n: keras.metrics.Mean(name=n) for n in names}

    @property
    def num_real(self):
        """N0 = N − M0: real samples per discriminator minibatch."""
        return self.batch_size - self.num_far

    def batch_rule(self):
        """Why a step takes N0 = N − M0 real rows (for the batch-size errors)."""
        if not self.num_far:
            return f"N = batch_size = {self.batch_size} real rows per discriminator step"
        return (f"N0 = N − M0 = {self.batch_size} − {self.num_far} = {self.num_real} real "
                f"rows per discriminator step (batch_size=N={self.batch_size}, num_far="
                f"M0={self.num_far}; the model adds the M0 FAR samples itself)")

    @property
    def generator_variables(self):
        return self.generator.trainable_variables

    def evaluated_generator(self):
        """G, or a copy holding its EMA weights when ``g_optimizer`` keeps one (the
        paper's image runs evaluate the EMA of G)."""
        return averaged_copy(self.generator, self.g_optimizer)

    def network_objects(self):
        """The networks and optimizers to checkpoint (the step is the base's)."""
        return dict(generator=self.generator, discriminator=self.discriminator,
                    g_optimizer=self.g_optimizer, d_optimizer=self.d_optimizer)

    # ------------------------------------------------------------------ RNG
    def _batch_slice(self, x):
        """This replica's rows of a global [N] batch laid out like the real side.

        A replica's real side is its N0/R real rows then its M0/R FAR rows, so its
        fakes (and interpolation weights) are its share of the first N0 global rows
        then its share of the last M0: row i is paired with the same real or FAR
        sample on R replicas as on one device (this matters for 0GP-interpolation).
        """
        if self.num_far == 0:
            return local_slice(x, self.batch_size)
        return tf.concat([local_slice(x[:self.num_real], self.num_real),
                          local_slice(x[self.num_real:], self.num_far)], axis=0)

    # ---------------------------------------------------------------- steps
    def train_one(self, real):
        real_batches = tf.split(real, self.d_steps) if self.d_steps > 1 else [real]
        for k, real_k in enumerate(real_batches):
            self.discriminator_step(real_k, k)
        self.generator_step()

    def discriminator_step(self, real, k=0):
        """One D update on N0 real samples plus D_FAR against the fakes (eq. 12)."""
        fake, candidates, candidate_logits = self.replica_part(self.discriminator_inputs)(k)
        real_side = real
        if self.num_far:
            real_side = far.far_real_batch(real, self.far_samples(candidates, candidate_logits))
        grads, logs = self.replica_part(self.discriminator_gradients)(real_side, fake, k)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_variables))
        self.track(logs)

    def discriminator_inputs(self, k):
        """(this replica's fakes, its share of the M1 FAR candidates, D0 on them);
        the candidates are empty without FAR."""
        z = self._normal(self.batch_size, [self.latent_dim], self._seed(_FAKE, k),
                         keep_global=True)
        z = self._batch_slice(z)
        if not self.num_far:
            return self._g(z), tf.zeros([0]), tf.zeros([0])
        # The fakes and the M1 FAR candidates in one generator pass.
        z_candidates = self._normal(self.num_candidates, [self.latent_dim],
                                    self._seed(_CANDIDATES, k))
        generated = self._g(tf.concat([z, z_candidates], 0))
        n_fake = tf.shape(z)[0]
        candidates = generated[n_fake:]
        return generated[:n_fake], candidates, self._d(candidates)

    def far_samples(self, candidates, logits):
        """D_FAR: the M0 lowest-scored of the M1 candidates (eq. 11), local slice."""
        _, r = replica_info()
        if r > 1:
            # Selection is over the *global* candidate set, as on one device.
            ctx = tf.distribute.get_replica_context()
            candidates = ctx.all_gather(candidates, axis=0)
            logits = ctx.all_gather(logits, axis=0)
        selected, _ = far.far_select(candidates, logits, self.num_far)
        return local_slice(selected, self.num_far)

    def discriminator_gradients(self, real_side, fake, k):
        """(∇ of D's loss + λ·R, logged values); ``real_side`` = D_r ∪ D_FAR."""
        _, replicas = replica_info()
        with tf.GradientTape() as tape:
            real_logits, fake_logits, reg = self.discriminator_outputs(real_side, fake, k)
            d_loss = gan_losses.discriminator_loss(real_logits, fake_logits)
            # (scaled inside the tape: float16 compute uses dynamic loss scaling)
            total = self.d_optimizer.scale_loss((d_loss + self.reg_weight * reg) / replicas)
        grads = tape.gradient(total, self.discriminator.trainable_variables)
        n_real = tf.shape(real_side)[0] - self.num_far // replicas
        d_real = tf.sigmoid(real_logits)
        logs = dict(d_loss=d_loss, reg=self.reg_weight * reg,
                    d_real=tf.reduce_mean(d_real[:n_real]),
                    d_fake=tf.reduce_mean(tf.sigmoid(fake_logits)))
        if self.num_far:
            logs["d_far"] = tf.reduce_mean(d_real[n_real:])
        return grads, logs

    def discriminator_outputs(self, real_side, fake, k):
        """(D0 on the real side, D0 on the fakes, unweighted regulariser R).

        The model adds λ·R. 0GP-sample: R = mean ‖∇T‖² over the real side (eq. 12);
        0GP-interpolation: over x̃ = αx + (1 − α)y; T = D0 or σ(D0) by
        ``penalty_target``. Only the penalised rows go through the double-backprop
        pass (the fakes' input gradients would cost as much and be thrown away).
        """
        regularizer = penalties.REGULARIZER_FUNCTIONS[self.regularizer]
        if regularizer is None:
            real_logits, reg = None, tf.constant(0.0)
        else:
            # α is used by 0GP-interpolation only; for the others this stateless draw
            # has no consumer and is pruned from the compiled step (XLA and graph).
            alpha = tf.random.stateless_uniform([self.batch_size], self._seed(_ALPHA, k),
                                                alg=RNG_ALG)
            kwargs = {}
            if not self.penalize_far:  # the ablation: this replica's FAR rows unpenalised
                kwargs["num_unpenalized"] = self.num_far // replica_info()[1]
            real_logits, reg = regularizer(self.discriminator, real_side, fake,
                                           self._batch_slice(alpha), self.penalty_target,
                                           **kwargs)
        if real_logits is not None:
            return real_logits, self._d(fake), reg
        n = tf.shape(real_side)[0]
        logits = self._d(tf.concat([real_side, fake], 0))
        return logits[:n], logits[n:], reg

    def generator_step(self):
        """One non-saturating generator update."""
        grads, logs = self.replica_part(self.generator_gradients)()
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))
        self.track(logs)

    def generator_gradients(self):
        """(∇ of the generator loss over the global batch, logged values)."""
        _, replicas = replica_info()
        z = self._normal(self.batch_size, [self.latent_dim], self._seed(_GEN))
        g_vars = self.generator.trainable_variables
        with tf.GradientTape() as tape:
            fake = self._g(z)
            per_sample = gan_losses.generator_loss_per_sample(self._d(fake))
            # The sum (inside the tape, or the tape would not see it) makes each row
            # of ∂/∂fake the gradient of that sample's own loss ℓ(y), eqs. (5)-(6);
            # one backward pass gives both the update and that diagnostic.
            # (times the loss scale under float16 compute; 1 otherwise)
            loss_scale = self.g_optimizer.scale_loss(tf.constant(1.0))
            summed = tf.reduce_sum(per_sample) * loss_scale
        grads = tape.gradient(summed, g_vars + [fake])
        scale = 1.0 / tf.cast(tf.shape(fake)[0] * replicas, tf.float32)
        fake_grad = tf.reshape(grads[-1] / loss_scale, [tf.shape(fake)[0], -1])
        logs = dict(g_loss=tf.reduce_mean(per_sample),
                    g_grad_norm=tf.reduce_mean(tf.norm(fake_grad, axis=1)))
        return [g * tf.cast(scale, g.dtype) for g in grads[:-1]], logs

    def _g(self, z):
        """G(z) in float32 (the networks may compute in float16/bfloat16)."""
        return tf.cast(self.generator(z, training=True), tf.float32)

    def _d(self, x):
        """D0(x) in float32: losses and penalties stay in float32."""
        return tf.cast(self.discriminator(x, training=True), tf.float32)


# ------------------------------------------------------------ the family's builder
# (``models/families.py`` delegates here: build(cfg), image_shape(cfg))

def resnet_architecture(cfg):
    """The ResNet preset of --architecture, with --base_width/--latent_dim applied."""
    arch = resnet.paper_architecture(cfg.architecture, cfg.model.base_width or None)
    if cfg.model.latent_dim:
        arch = dataclasses.replace(arch, latent_dim=cfg.model.latent_dim)
    return arch


def image_shape(cfg):
    """(side, channels) of the images the ResNets take."""
    arch = resnet_architecture(cfg)
    return arch.resolution, arch.channels


def build_networks(cfg):
    """(generator, discriminator): the MLPs on 2-D data, else the paper's ResNets."""
    m = cfg.model
    if cfg.architecture == "mlp":
        return (mlp.mlp_generator(cfg.latent_dim, 2, m.hidden_units, init=m.mlp_init),
                mlp.mlp_discriminator(2, m.hidden_units, init=m.mlp_init))
    return resnet.build_resnet_pair(resnet_architecture(cfg))


def build(cfg):
    """An uncompiled :class:`FARGAN` for a Config."""
    m = cfg.model
    generator, discriminator = build_networks(cfg)
    return FARGAN(
        generator, discriminator,
        latent_dim=cfg.latent_dim, batch_size=cfg.data.batch_size, regularizer=m.regularizer,
        reg_weight=m.reg_weight, num_far=m.num_far, num_candidates=m.num_candidates,
        d_steps=m.d_steps, seed=cfg.run.seed, penalty_target=cfg.penalty_target,
        penalize_far=m.penalize_far)
