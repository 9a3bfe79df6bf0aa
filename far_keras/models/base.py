"""What FAR-GAN and the SDKL family share: two optimizers, the step counter,
counter-based randomness and the replica bookkeeping of ``tf.distribute``.

Randomness is counter-based: every draw is ``stateless_*`` with a seed folded from
(seed, step, stream, ...), the step being the model's ``train_counter``.
We use that rather than a ``keras.random.SeedGenerator`` because (a) a resumed run
then draws exactly what the uninterrupted run would, with no generator state to
save, and (b) every replica of a strategy draws the same *global* batch and keeps its
own slice, so R replicas compute the same step as one device. (Under XLA the
stateless kernels give other numbers than without it: jit and non-jit runs are each
deterministic, not equal to each other.)
"""

import keras
import tensorflow as tf

from far_keras import export
from far_keras import rng
from far_keras.rng import RNG_ALG


def replica_info():
    """(replica id, number of replicas); (0, 1) outside ``strategy.run``."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None:  # cross-replica context
        return 0, 1
    return ctx.replica_id_in_sync_group, ctx.num_replicas_in_sync


def local_slice(x, global_size):
    """This replica's equal share of the first axis of a global tensor."""
    rid, r = replica_info()
    if r == 1:
        return x
    n = global_size // r
    return x[rid * n:(rid + 1) * n]


class AdversarialModel(keras.Model):
    """A discriminator optimizer, a generator-side optimizer, and their bookkeeping.

    Subclasses set ``self.seed`` and define ``generator_variables`` (what
    ``g_optimizer`` updates) and ``checkpoint_objects()``.
    """

    def compile(self, d_optimizer, g_optimizer, steps_per_call=1, jit_compile=False,
                **kwargs):
        """``steps_per_call`` = K > 1: each element of the training data holds K
        batches ([K, batch, ...]) and one call of the train function runs K training
        steps.

        On one device ``train_step`` runs them in an in-graph loop and, with
        ``jit_compile``, the whole loop is one XLA computation, about 2.5x faster
        on a CPU for the 2-D MLPs than Keras's own ``steps_per_execution`` (which
        launches XLA once per step from a while loop that also pulls each batch
        from the iterator).

        Under a tf.distribute strategy (the model built in its scope) neither can
        work: Keras does not XLA-compile a distributed step (the optimizers'
        all-reduce cannot be compiled), and a synchronisation (``merge_call``)
        cannot sit inside a loop in replica context. There ``make_train_function``
        loops over K ``strategy.run`` calls instead, and with ``jit_compile`` each
        replica's losses and gradients are XLA-compiled (``replica_part``) while
        the optimizer updates and FAR's all-gather run between them.
        """
        self.distributed = tf.distribute.has_strategy()
        super().compile(optimizer=None, jit_compile=jit_compile and not self.distributed,
                        **kwargs)
        self.steps_per_call = steps_per_call
        self.replica_jit = bool(jit_compile and self.distributed)
        # Benchmarks only: Keras's own train function (one step per call, no XLA
        # under a strategy), the path every distributed run took before.
        self.keras_train_function = False
        self._replica_parts = {}
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        # Our own counter rather than g_optimizer.iterations: under float16 loss
        # scaling a step with non-finite gradients is skipped by the optimizer, but
        # it is still a training step (data and random draws move on).
        self.train_counter = keras.Variable(0, dtype="int64", trainable=False,
                                            aggregation="only_first_replica",
                                            name="train_step")
        # Built now, not at the first step, so that a checkpoint can be restored
        # into them before training starts.
        d_optimizer.build(self.discriminator.trainable_variables)
        g_optimizer.build(self.generator_variables)
        # The networks exist already; without this Keras would try to build the
        # model by tracing a call() that these multi-network models do not have.
        self.built = True

    def train_step(self, data):
        if self.steps_per_call == 1:
            self.train_one(data)
            self.train_counter.assign_add(1)
        else:
            def body(i):
                self.train_one(tf.gather(data, i))
                self.train_counter.assign_add(1)
                return i + 1

            tf.while_loop(lambda i: i < self.steps_per_call, body, [tf.constant(0)])
        # (Under a strategy ``make_train_function`` runs the steps and reads the
        # trackers itself; this path is one device, or the benchmarks' legacy one.)
        return {name: m.result() for name, m in self.trackers.items()}

    def train_one(self, real):
        """One training step on one batch of real data (the paper's algorithm)."""
        raise NotImplementedError

    def make_train_function(self, force=False):
        if not self.distributed or self.keras_train_function:
            return super().make_train_function(force)
        if self.train_function is not None and not force:
            return self.train_function
        strategy = self.distribute_strategy
        steps = self.steps_per_call

        def one_step(data, i):
            self.train_one(data if steps == 1 else tf.gather(data, i))

        @tf.function
        def train_function(iterator):
            data = next(iterator)
            # A loop of strategy.run calls (not a loop inside one) so that the
            # gradient all-reduce of each step happens in cross-replica context.
            for i in tf.range(steps):
                strategy.run(one_step, args=(data, i))
                self.train_counter.assign_add(1)
            # Read in cross-replica context: the trackers' sums over all replicas.
            return {name: m.result() for name, m in self.trackers.items()}

        self.train_function = train_function
        return train_function

    def replica_part(self, fn):
        """``fn`` (one replica's losses and gradients: no collectives, no variable
        updates), as its own XLA computation when the step runs under a strategy
        with ``jit_compile``; otherwise ``fn`` itself (on one device it is already
        inside the XLA-compiled step)."""
        if not self.replica_jit:
            return fn
        name = fn.__name__
        if name not in self._replica_parts:
            self._replica_parts[name] = tf.function(fn, jit_compile=True)
        return self._replica_parts[name]

    def track(self, values):
        """Adds a step's logged values to their ``trackers``."""
        for name, value in values.items():
            self.trackers[name].update_state(value)

    @property
    def num_real(self):
        """Real samples per discriminator minibatch (FAR-GAN: N0 = N − M0)."""
        return self.batch_size

    @property
    def metrics(self):
        return list(self.trackers.values())

    @property
    def step(self):
        """Training steps so far (a variable): the RNG's step counter."""
        return self.train_counter

    def checkpoint_objects(self):
        """Everything a ``tf.train.Checkpoint`` needs to resume exactly."""
        return dict(self.network_objects(), step=self.train_counter)

    def network_objects(self):
        """The networks and optimizers to checkpoint (subclasses)."""
        raise NotImplementedError

    def evaluated_generator(self):
        """The network that evaluation scores and export writes (subclasses: the
        generator, its EMA copy, or the SDKL decoder)."""
        raise NotImplementedError

    def exported_encoder(self):
        """An encoder x → [mean, log scale] to export with the generator, or None."""
        return None

    def export(self, export_dir):
        """Writes the evaluated generator (and ``exported_encoder``) as a SavedModel
        (signatures: ``far_keras/export.py``); returns ``export_dir``."""
        return export.export_generator(self.evaluated_generator(), self.latent_dim,
                                       export_dir, encoder=self.exported_encoder())

    def current_step(self):
        """``step`` as a Python int (eagerly; works for mirrored variables too)."""
        return int(tf.convert_to_tensor(self.step.value))

    def _normal(self, n_global, tail, seed, keep_global=False):
        """A global [n_global, *tail] N(0, I) draw (the same on every replica) and
        this replica's slice of it (or the whole draw with ``keep_global``)."""
        eps = tf.random.stateless_normal(tf.concat([[n_global], tail], 0), seed, alg=RNG_ALG)
        return eps if keep_global else local_slice(eps, n_global)

    def _seed(self, *stream):
        """Stateless seed for (seed, step, *stream)."""
        return rng.fold_seed(tf.constant([self.seed, 0], tf.int64),
                             tf.cast(self.step, tf.int64), *stream)


def averaged_copy(network, optimizer):
    """``network`` itself when ``optimizer`` keeps no EMA, else a clone holding the
    EMA weights (the live network keeps training on its own weights).

    Uses Keras's public ``optimizer.finalize_variable_values(var_list)``, which
    overwrites ``var_list`` with the optimizer's moving averages (matched by
    position with the variables the optimizer was built with, i.e.
    ``network.trainable_variables``), on the *clone's* variables, so the training
    network is untouched. Non-trainable weights (e.g. batch-norm statistics) keep
    the live network's values, as with Keras's own EMA swap.
    """
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # under loss scaling
    if not optimizer.use_ema:
        return network
    clone = keras.models.clone_model(network)
    clone.set_weights(network.get_weights())
    optimizer.finalize_variable_values(clone.trainable_variables)
    return clone
