"""The five models of the SDKL paper's comparison (Berger & Sebag, "New losses for
generative adversarial learning", sec. 4.2): GAN, VAE with an adversarial
perceptual loss, VAEGAN (Larsen et al. 2016), SDKL, and SDKL without sampling.

All share the networks of ``nets/sdkl.py`` (encoder q(z|x), decoder Dec(z), and a
discriminator D0 split at h2 into ``features`` and ``head``) and one training loop,
``SDKLFamilyModel.train_step``:

1. ``d_steps`` discriminator minibatches. The real batch arrives as
   [d_steps·B, H, W, C] and is split into d_steps minibatches of B, as in FAR-GAN.
   D's loss is the sigmoid cross-entropy (``gan_losses.discriminator_loss``; VAEGAN:
   ``sdkl_losses.vaegan_discriminator_loss``) plus ``ortho_weight`` times the
   orthogonal regulariser of all D kernels. Only D's weights are updated.
2. One generator-side update of encoder and decoder (decoder only for GAN) by
   ``g_optimizer``. Gradients are applied to encoder/decoder variables only, so the
   generator-side losses never change D (D's layers are in the forward pass, h2
   being D's second conv layer, but their gradients are never taken).

The −ELBO of a model uses the *last* of the d_steps real minibatches (the one D saw
most recently); its single latent sample z_x = μ + s·ε and every other draw are
counter-based (see below).

| model (``MODELS`` key) | encoder / decoder loss | D's fake side | noise at h2 |
|---|---|---|---|
| ``gan`` | decoder only: −log σ(D0(Dec(z))) | Dec(z) | no |
| ``vae`` | −ELBO (h2 likelihood) | samples of p_θ: head(h2(Dec(z)) + σε) | yes |
| ``vaegan`` | enc: −ELBO; dec: γ·NLL − log D(rec.) − log D(Dec(z)) | rec. and Dec(z) (two terms) | no |
| ``sdkl`` | −ELBO + E[−D0(head(h2(Dec(z)) + σε))] | samples of p_θ | yes |
| ``sdkl_nosample`` | −ELBO + E[−D0(Dec(z))] | Dec(z) | no |

z ~ p(z) = N(0, I) everywhere except "rec." = Dec(z_x), z_x ~ q(z|x). Real images
always enter D without noise.

VAEGAN's gradient split. One optimizer (``g_optimizer``) updates encoder and
decoder, but with two gradients from one (persistent) tape: the encoder's from
−ELBO = KL + NLL only, the decoder's from ``sdkl_losses.vaegan_decoder_loss``
(γ·NLL + adversarial terms). Keras optimizers keep per-variable slots, so this is
the same update as two optimizers with the same settings, with one step counter.

Randomness is counter-based and replica-aware (``models/base.py``), with draws
keyed by (seed, step, stream, k). The samplers of ``objectives/elbo.py`` use
``keras.random``; this module draws ε itself with the same formulas
(z = μ + exp(log s)·ε, h̃2 = h2(x̂) + σ·ε).

Losses are divided by the number of replicas before differentiation (as in
FAR-GAN), so summed replica gradients are global-batch gradients.

Mixed precision: the networks return float32 (``nets/sdkl.py``), so the noise at
h2, the ELBO's distributions and every loss here are float32 whatever the compute
type; each loss is multiplied by its optimizer's ``scale_loss`` inside the tape
(the dynamic loss scale of a float16 ``LossScaleOptimizer``, else 1), and that
optimizer's ``apply_gradients`` unscales, or skips a non-finite step.

Logged per step (the ``trackers``; means over each ``--log_every`` interval, after
which ``ScalarSummaries`` resets them):
``d_loss`` (cross-entropy part of D's loss), ``ortho`` (the *unweighted*
orthogonal regulariser R; D's loss adds ``ortho_weight``·R), ``d_real``,
``d_fake`` (mean σ(D0) on real and on the sample fakes; VAEGAN also ``d_rec``
on reconstructions), and for models with an encoder ``neg_elbo``, ``recon_nll``,
``kl``; generator-side: ``adv`` (the adversarial term of the generator-side loss:
GAN −log D(Dec(z)), SDKL(-nosample) E[−D0], VAEGAN −log D(rec.) − log D(Dec(z)); the
VAE has none) and ``g_loss`` (the loss whose gradient reaches the decoder).
"""

import keras
import tensorflow as tf

from far_keras.models.base import AdversarialModel, replica_info
from far_keras.nets import sdkl as sdkl_nets
from far_keras.objectives import elbo, gan_losses, orthogonal, sdkl_losses

# Streams of the counter-based RNG within one train step.
_D_PRIOR, _D_H2, _D_POSTERIOR, _G_PRIOR, _G_H2, _G_POSTERIOR = range(6)




class SDKLFamilyModel(AdversarialModel):
    """Shared base of the five models: networks, RNG, D step, generator step.

    Args:
      encoder: x → [mean, log_scale] (``nets.sdkl.sdkl_encoder``), or None (GAN).
      decoder: z → x̂ (``nets.sdkl.sdkl_decoder``).
      discriminator: ``nets.sdkl.SDKLDiscriminator(features, head, discriminator)``.
      latent_dim: d.
      batch_size: B, the global batch of one D minibatch (and of the generator's
        prior samples and of the −ELBO's real batch).
      sigma: σ of the observation model N(h2(x̂), σ²) at h2.
      ortho_weight: λ of the orthogonal regulariser on D's kernels.
      d_steps: D minibatches per generator update.
      seed: base of the counter-based RNG.

    Subclasses set ``has_encoder`` and ``noisy_fakes`` (samples of p_θ taken at h2
    with noise, for D's fakes and for the adversarial term) and override
    ``generator_losses`` (and VAEGAN ``discriminator_losses``).
    """

    key = None
    has_encoder = True
    noisy_fakes = False

    def __init__(self, encoder, decoder, discriminator, *, latent_dim, batch_size,
                 sigma=1.0, ortho_weight=1e-4, d_steps=1, seed=0, **kwargs):
        super().__init__(**kwargs)
        if self.has_encoder and encoder is None:
            raise ValueError(f"model {self.key!r} needs an encoder")
        if sigma <= 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        if d_steps < 1 or batch_size < 1:
            raise ValueError(f"d_steps and batch_size must be >= 1, got {d_steps}, {batch_size}")
        self.encoder = encoder if self.has_encoder else None
        self.decoder = decoder
        self.features = discriminator.features
        self.head = discriminator.head
        self.discriminator = discriminator.discriminator
        self.latent_dim = latent_dim
        self.batch_size = batch_size
        self.sigma = float(sigma)
        self.ortho_weight = float(ortho_weight)
        self.d_steps = d_steps
        self.seed = seed
        self.d_kernels = orthogonal.model_kernels(self.discriminator)
        self.trackers = {n: keras.metrics.Mean(name=n) for n in self.metric_names()}

    # ------------------------------------------------------------ plumbing
    def metric_names(self):
        names = ["d_loss", "ortho", "d_real", "d_fake"]
        if self.has_encoder:
            names += ["neg_elbo", "recon_nll", "kl"]
        return names + ["g_loss"]

    @property
    def generator_variables(self):
        """What ``g_optimizer`` updates: encoder (if any) then decoder variables."""
        enc = self.encoder.trainable_variables if self.has_encoder else []
        return enc + self.decoder.trainable_variables

    def evaluated_generator(self):
        """The decoder: samples are Dec(z), z ~ N(0, I)."""
        return self.decoder

    def exported_encoder(self):
        """q(z|x)'s network, exported as ``encode(x)`` (None for the GAN)."""
        return self.encoder if self.has_encoder else None

    def network_objects(self):
        """The networks and optimizers to checkpoint (the step is the base's)."""
        objects = dict(decoder=self.decoder, discriminator=self.discriminator,
                       g_optimizer=self.g_optimizer, d_optimizer=self.d_optimizer)
        if self.has_encoder:
            objects["encoder"] = self.encoder
        return objects

    # ----------------------------------------------------------------- RNG
    def _prior_latents(self, stream, k=0):
        return self._normal(self.batch_size, [self.latent_dim], self._seed(stream, k))

    def _posterior_sample(self, mean, log_scale, stream, k=0):
        """z = μ + exp(log s)·ε (``elbo.sample_latent``) with counter-based ε."""
        _, r = replica_info()
        eps = self._normal(tf.shape(mean)[0] * r, [self.latent_dim], self._seed(stream, k))
        return elbo.sample_latent(mean, log_scale, noise=eps)

    def fake_logits(self, images, stream, k=0, training=True):
        """D0 on generated images: head(h2(x̂) + σ·ε) if ``noisy_fakes`` (a sample of
        p_θ, as ``elbo.sample_observation``), else D0(x̂)."""
        if not self.noisy_fakes:
            return self.discriminator(images, training=training)
        h2 = self.features(images, training=training)
        _, r = replica_info()
        eps = self._normal(tf.shape(h2)[0] * r, list(self.features.output_shape[1:]),
                           self._seed(stream, k))
        return self.head(elbo.sample_observation(h2, self.sigma, noise=eps), training=training)

    # --------------------------------------------------------------- steps
    def train_one(self, real):
        real_batches = tf.split(real, self.d_steps) if self.d_steps > 1 else [real]
        for k, real_k in enumerate(real_batches):
            self.discriminator_step(real_k, k)
        self.generator_step(real_batches[-1])

    def discriminator_fakes(self, real, k):
        """Generated images for D's k-th minibatch, made outside D's tape."""
        return {"sample": self.decoder(self._prior_latents(_D_PRIOR, k), training=True)}

    def discriminator_losses(self, real, fakes, k=0):
        """D's cross-entropy on real vs fakes (call inside D's tape)."""
        real_logits = self.discriminator(real, training=True)
        fake_logits = self.fake_logits(fakes["sample"], _D_H2, k)
        return dict(d_loss=gan_losses.discriminator_loss(real_logits, fake_logits),
                    real_logits=real_logits, fake_logits=fake_logits)

    def discriminator_step(self, real, k=0):
        grads, logs = self.replica_part(self.discriminator_gradients)(real, k)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_variables))
        self.track(logs)

    def discriminator_gradients(self, real, k=0):
        """(∇ of D's loss, logged values) for D's k-th minibatch."""
        _, replicas = replica_info()
        fakes = self.discriminator_fakes(real, k)
        d_vars = self.discriminator.trainable_variables
        with tf.GradientTape() as tape:
            out = self.discriminator_losses(real, fakes, k)
            ortho = orthogonal.orthogonal_regularizer(self.d_kernels)
            # (scaled inside the tape: float16 compute uses dynamic loss scaling)
            total = self.d_optimizer.scale_loss(
                (out["d_loss"] + self.ortho_weight * ortho) / replicas)
        grads = tape.gradient(total, d_vars)
        logs = dict(d_loss=out["d_loss"], ortho=ortho,
                    d_real=tf.reduce_mean(tf.sigmoid(out["real_logits"])),
                    d_fake=tf.reduce_mean(tf.sigmoid(out["fake_logits"])))
        if "rec_logits" in out:
            logs["d_rec"] = tf.reduce_mean(tf.sigmoid(out["rec_logits"]))
        return grads, logs

    def negative_elbo(self, real, stream=_G_POSTERIOR):
        """−ELBO on ``real`` with the h2 likelihood; also returns z_x and Dec(z_x)."""
        mean, log_scale = self.encoder(real, training=True)
        z = self._posterior_sample(mean, log_scale, stream)
        reconstruction = self.decoder(z, training=True)
        neg = elbo.negative_elbo(self.features(real, training=True),
                                 self.features(reconstruction, training=True),
                                 mean, log_scale, self.sigma)
        return neg, reconstruction

    def generator_losses(self, real):
        """The generator-side losses (call inside the tape).

        Returns a dict with ``encoder_loss`` (None without encoder), ``decoder_loss``
        (the same tensor when encoder and decoder share one loss), ``fake_logits``
        (what the adversarial term saw, if any) and the logged terms.
        """
        raise NotImplementedError

    def generator_step(self, real):
        """One update of encoder and decoder; D's weights are never touched."""
        grads, logs = self.replica_part(self.generator_gradients)(real)
        self.g_optimizer.apply_gradients(zip(grads, self.generator_variables))
        self.track(logs)

    def generator_gradients(self, real):
        """(∇ of the generator-side losses w.r.t. ``generator_variables``, logged
        values)."""
        _, replicas = replica_info()
        enc_vars = self.encoder.trainable_variables if self.has_encoder else []
        dec_vars = self.decoder.trainable_variables
        with tf.GradientTape(persistent=True) as tape:
            out = self.generator_losses(real)
            # Both scaled by g_optimizer's one loss scale (float16), which its
            # apply_gradients divides out of the concatenated gradients.
            dec_loss = self.g_optimizer.scale_loss(out["decoder_loss"] / replicas)
            enc_loss = (None if out["encoder_loss"] is None
                        else self.g_optimizer.scale_loss(out["encoder_loss"] / replicas))
        if out["encoder_loss"] is out["decoder_loss"]:  # one joint loss
            grads = tape.gradient(dec_loss, enc_vars + dec_vars)
        else:
            grads = (tape.gradient(enc_loss, enc_vars) if enc_vars else []) \
                + tape.gradient(dec_loss, dec_vars)
        del tape
        logs = {name: out[name] for name in ("neg_elbo", "recon_nll", "kl", "adv")
                if name in out}
        return grads, dict(logs, g_loss=out["decoder_loss"])

    # ------------------------------------------------------------- outputs
    def sample(self, z):
        """Dec(z): the decoder mean image for latents z [n, latent_dim]."""
        return self.decoder(z, training=False)

    def encode(self, x):
        """(mean, scale) of q(z|x), each [n, latent_dim]."""
        if not self.has_encoder:
            raise ValueError(f"model {self.key!r} has no encoder")
        mean, log_scale = self.encoder(x, training=False)
        return mean, tf.exp(log_scale)

    def reconstruct(self, x):
        """Dec(μ(x)): the decoder mean at the posterior mean."""
        return self.sample(self.encode(x)[0])


class GANModel(SDKLFamilyModel):
    """The GAN baseline: decoder trained with the non-saturating −log σ(D0(Dec(z)))."""

    key = "gan"
    has_encoder = False

    def metric_names(self):
        return super().metric_names() + ["adv"]

    def generator_losses(self, real):
        fake = self.decoder(self._prior_latents(_G_PRIOR), training=True)
        fake_logits = self.fake_logits(fake, _G_H2)
        adv = gan_losses.generator_loss(fake_logits)
        return dict(encoder_loss=None, decoder_loss=adv, adv=adv, fake_logits=fake_logits)


class VAEModel(SDKLFamilyModel):
    """VAE with adversarial perceptual loss: −ELBO with the h2 likelihood; D (which
    only defines the perceptual features) sees samples of p_θ with noise at h2."""

    key = "vae"
    noisy_fakes = True

    def generator_losses(self, real):
        neg, _ = self.negative_elbo(real)
        return dict(encoder_loss=neg.loss, decoder_loss=neg.loss, neg_elbo=neg.loss,
                    recon_nll=neg.reconstruction_nll, kl=neg.kl, fake_logits=None)


class SDKLModel(SDKLFamilyModel):
    """SDKL (eq. 22): −ELBO + E[−D0(head(h2(Dec(z)) + σε))], encoder and decoder
    jointly; D sees the same samples of p_θ."""

    key = "sdkl"
    noisy_fakes = True

    def metric_names(self):
        return super().metric_names() + ["adv"]

    def generator_losses(self, real):
        neg, _ = self.negative_elbo(real)
        fake = self.decoder(self._prior_latents(_G_PRIOR), training=True)
        fake_logits = self.fake_logits(fake, _G_H2)
        loss = sdkl_losses.sdkl_generator_loss(neg.loss, fake_logits)
        adv = sdkl_losses.kl_model_to_data_loss(fake_logits)  # its second term, logged
        return dict(encoder_loss=loss, decoder_loss=loss, neg_elbo=neg.loss,
                    recon_nll=neg.reconstruction_nll, kl=neg.kl, adv=adv,
                    fake_logits=fake_logits)


class SDKLNoSampleModel(SDKLModel):
    """SDKL without sampling: −ELBO + E[−D0(Dec(z))]; D's fakes are Dec(z)."""

    key = "sdkl_nosample"
    noisy_fakes = False


class VAEGANModel(SDKLFamilyModel):
    """VAEGAN (Larsen et al. 2016). Encoder: −ELBO (KL + h2 NLL). Decoder:
    γ·NLL − log D(Dec(z_x)) − log D(Dec(z)) (``sdkl_losses.vaegan_decoder_loss``).
    D: ``sdkl_losses.vaegan_discriminator_loss`` with reconstructions and prior
    samples as two fake terms. No noise at h2.

    Extra arg: reconstruction_weight: γ.
    """

    key = "vaegan"

    def __init__(self, *args, reconstruction_weight=1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.reconstruction_weight = float(reconstruction_weight)

    def metric_names(self):
        names = super().metric_names()
        names.insert(names.index("d_fake") + 1, "d_rec")
        return names + ["adv"]

    def discriminator_fakes(self, real, k):
        fakes = super().discriminator_fakes(real, k)
        mean, log_scale = self.encoder(real, training=True)
        z = self._posterior_sample(mean, log_scale, _D_POSTERIOR, k)
        fakes["reconstruction"] = self.decoder(z, training=True)
        return fakes

    def discriminator_losses(self, real, fakes, k=0):
        real_logits = self.discriminator(real, training=True)
        fake_logits = self.discriminator(fakes["sample"], training=True)
        rec_logits = self.discriminator(fakes["reconstruction"], training=True)
        d_loss = sdkl_losses.vaegan_discriminator_loss(real_logits, rec_logits, fake_logits)
        return dict(d_loss=d_loss, real_logits=real_logits, fake_logits=fake_logits,
                    rec_logits=rec_logits)

    def generator_losses(self, real):
        neg, reconstruction = self.negative_elbo(real)
        rec_logits = self.discriminator(reconstruction, training=True)
        fake = self.decoder(self._prior_latents(_G_PRIOR), training=True)
        fake_logits = self.fake_logits(fake, _G_H2)
        dec_loss = sdkl_losses.vaegan_decoder_loss(
            neg.reconstruction_nll, rec_logits, fake_logits, self.reconstruction_weight)
        adv = dec_loss - self.reconstruction_weight * neg.reconstruction_nll
        return dict(encoder_loss=neg.loss, decoder_loss=dec_loss, neg_elbo=neg.loss,
                    recon_nll=neg.reconstruction_nll, kl=neg.kl, adv=adv,
                    fake_logits=fake_logits, rec_logits=rec_logits)


MODELS = {cls.key: cls for cls in
          (GANModel, VAEModel, VAEGANModel, SDKLModel, SDKLNoSampleModel)}


def build_sdkl_model(name, resolution=64, channels=3, latent_dim=128, base_width=64,
                     fc_units=1024, sigma=1.0, ortho_weight=1e-4, d_steps=1,
                     batch_size=64, seed=0, **model_kwargs):
    """An uncompiled model of ``MODELS`` with the nets of ``nets/sdkl.py``.

    The GAN has no encoder (``model.encoder is None``). Initial weights come from
    Keras' global RNG (``keras.utils.set_random_seed`` first for reproducible
    initialisation); ``seed`` keys the training draws. ``model_kwargs`` go to the
    model class (VAEGAN: ``reconstruction_weight``). Then
    ``model.compile(d_optimizer, g_optimizer, jit_compile=..., ...)``.
    """
    if name not in MODELS:
        raise ValueError(f"unknown SDKL-family model {name!r}; one of {sorted(MODELS)}")
    cls = MODELS[name]
    sizes = dict(resolution=resolution, channels=channels, base_width=base_width,
                 fc_units=fc_units)
    encoder = (sdkl_nets.sdkl_encoder(latent_dim=latent_dim, **sizes)
               if cls.has_encoder else None)
    decoder = sdkl_nets.sdkl_decoder(latent_dim=latent_dim, **sizes)
    discriminator = sdkl_nets.sdkl_discriminator(**sizes)
    return cls(encoder, decoder, discriminator, latent_dim=latent_dim,
               batch_size=batch_size, sigma=sigma, ortho_weight=ortho_weight,
               d_steps=d_steps, seed=seed, name=f"{name}_model", **model_kwargs)


# ------------------------------------------------------------ the family's builder
# (``models/families.py`` delegates here: build(cfg), image_shape(cfg))

def image_shape(cfg):
    """(side, channels): --image_size (or the dataset's), grey for digits."""
    return cfg.family.image_size(cfg), 1 if cfg.data.dataset == "digits" else 3


def build(cfg):
    """An uncompiled model of ``MODELS[--model]`` for a Config."""
    m = cfg.model
    size, channels = image_shape(cfg)
    kwargs = {"reconstruction_weight": m.reconstruction_weight} if m.model == "vaegan" else {}
    return build_sdkl_model(
        m.model, resolution=size, channels=channels, latent_dim=cfg.latent_dim,
        base_width=m.base_width or (64 if size >= 32 else 16),
        fc_units=m.fc_units or (1024 if size >= 64 else 256), sigma=m.sigma,
        ortho_weight=m.ortho_weight, d_steps=m.d_steps, batch_size=cfg.data.batch_size,
        seed=cfg.run.seed, **kwargs)
