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

        Every step takes ``real_batch_size`` rows of real data (``[K,
        real_batch_size, ...]`` elements when K > 1); ``train_step`` checks that
        before it trains (see ``checked_batch``).
        """
        self.distributed = tf.distribute.has_strategy()
        # Keras's own step function stays a plain graph: the batch check of
        # ``train_step`` runs there, where a failed assertion raises (XLA drops
        # assertions), and the K steps after it are one XLA computation of our own.
        super().compile(optimizer=None, jit_compile=False, **kwargs)
        self.steps_per_call = steps_per_call
        self.step_jit = bool(jit_compile and not self.distributed)
        self.replica_jit = bool(jit_compile and self.distributed)
        self._run_steps = (tf.function(self.run_steps, jit_compile=True) if self.step_jit
                           else self.run_steps)
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
        real, checks = self.checked_batch(data)
        with tf.control_dependencies(checks):  # nothing trains on a wrong-sized batch
            self._run_steps(real)  # (XLA-compiled with ``jit_compile``)
        # (Under a strategy ``make_train_function`` runs the steps and reads the
        # trackers itself; this path is one device, or the benchmarks' legacy one.)
        return {name: m.result() for name, m in self.trackers.items()}

    def fit(self, x=None, y=None, batch_size=None, *args, **kwargs):
        """``keras.Model.fit``; an array ``x`` is checked first: its batches must be
        ``real_batch_size`` rows, and so must the last one of each epoch."""
        self.check_array_batches(x, batch_size)
        return super().fit(x, y, batch_size, *args, **kwargs)

    def check_array_batches(self, x, batch_size):
        """For an array ``x`` (NumPy or tensor; Keras batches it, 32 rows unless
        ``batch_size``), a ``ValueError`` before any training if a batch, the last
        one of an epoch included, would not be ``real_batch_size`` rows."""
        if isinstance(x, tf.data.Dataset):
            return  # (train_step checks every element)
        shape = getattr(x, "shape", None)
        if self.steps_per_call > 1 and shape is not None:
            # Each element is a block of K steps' batches; an array of rows is not.
            raise ValueError(
                f"{type(self).__name__} runs steps_per_call={self.steps_per_call} steps per "
                f"element, so each element must be [{self.steps_per_call}, "
                f"{self.real_batch_size}, ...] (K blocks of model.real_batch_size rows): "
                "give a tf.data pipeline of such blocks, or compile with "
                "steps_per_call=1 to fit on an array of rows")
        if shape is None or len(shape) == 0 or shape[0] is None:
            return
        rows, size, take = int(shape[0]), batch_size or 32, self.real_batch_size
        if size != take:
            raise ValueError(self.batch_error(size, got=(
                f"got fit(batch_size={size})" if batch_size else
                "got fit() without batch_size (Keras then batches 32 rows)")))
        if rows % take:
            raise ValueError(
                f"x has {rows} rows, not a multiple of {take} (model.real_batch_size): "
                f"the last batch of each epoch would have {rows % take} rows, and "
                f"{type(self).__name__} takes {take} per step. Drop the remainder afresh "
                f"each epoch with tf.data.Dataset.from_tensor_slices(x).shuffle({rows})"
                f".batch({take}, drop_remainder=True), or pass {rows // take * take} rows.")

    def run_steps(self, real):
        """The ``steps_per_call`` training steps of one call, in an in-graph loop."""
        if self.steps_per_call == 1:
            self.train_one(real)
            self.train_counter.assign_add(1)
        else:
            def body(i):
                self.train_one(tf.gather(real, i))
                self.train_counter.assign_add(1)
                return i + 1

            tf.while_loop(lambda i: i < self.steps_per_call, body, [tf.constant(0)])

    # ------------------------------------------------------ the batch rule
    @property
    def real_batch_size(self):
        """Rows of real data one training step takes: ``d_steps`` × ``num_real``
        (FAR-GAN: d_steps × N0 = d_steps × (N − M0); SDKL models: d_steps × B).

        Batch ``fit``'s data in exactly this many rows (``fit(x,
        batch_size=model.real_batch_size)``, or ``.batch(model.real_batch_size,
        drop_remainder=True)``); any other count is an error, never trained on.
        With ``steps_per_call`` = K > 1 each element is [K, real_batch_size, ...].
        """
        return self.num_real * self.d_steps

    def batch_rule(self):
        """What one discriminator step takes, in the paper's terms (for the errors)."""
        return f"B = batch_size = {self.batch_size} real rows per discriminator step"

    def batch_error(self, rows, got=None):
        """The message for a batch of ``rows`` real rows (a number, or '{}' for a
        ``tf.strings.format`` template), naming what the model takes and why;
        ``got`` replaces the words "got a batch of ``rows`` real rows"."""
        _, replicas = replica_info()
        take = self.real_batch_size
        got = f"{type(self).__name__} {got or f'got a batch of {rows} real rows'}"
        if replicas > 1:
            got += (f" on one of its {replicas} replicas (each takes {take // replicas} of "
                    "the global batch)")
        steps = (f"d_steps = {self.d_steps} discriminator steps × " if self.d_steps > 1
                 else "")
        return (f"{got}; it takes {take} per training step: {steps}{self.batch_rule()}. "
                f"Batch the data in model.real_batch_size = {take} rows: fit(x, "
                f"batch_size={take}), or .batch({take}, drop_remainder=True) on a tf.data "
                "pipeline" + (f", then .batch({self.steps_per_call}) for steps_per_call"
                              if self.steps_per_call > 1 else "") + ".")

    def checked_batch(self, data):
        """(real rows, checks): the rows of ``data`` (one step's batch, [K, batch,
        ...] when ``steps_per_call`` = K > 1; an (x, y) or (x,) tuple gives x: labels
        are not used), and the assertions that the training ops must wait for.

        A row count other than ``real_batch_size`` is a ``ValueError`` when the shape
        is known while tracing; else (``fit`` on an array, a ``tf.data`` batch without
        ``drop_remainder``) the returned assertion raises
        ``tf.errors.InvalidArgumentError`` when such a batch arrives (the last,
        partial batch of an epoch, typically), and the step run under
        ``tf.control_dependencies(checks)`` trains nothing on it. Either error
        names both numbers. (The assertion runs outside the XLA-compiled steps:
        XLA drops assertions.)
        """
        if isinstance(data, (tuple, list)):
            data = keras.utils.unpack_x_y_sample_weight(tuple(data))[0]
        real = tf.convert_to_tensor(data)
        _, replicas = replica_info()
        expected = self.real_batch_size // replicas
        axis = 1 if self.steps_per_call > 1 else 0
        if real.shape.rank is not None and real.shape.rank <= axis:
            raise ValueError(f"{type(self).__name__} takes batches of rows "
                             f"[{'K, ' if axis else ''}batch, ...], got shape {real.shape}")
        rows = real.shape[axis] if real.shape.rank is not None else None
        if rows is not None:
            if rows != expected:
                raise ValueError(self.batch_error(rows))
            return real, []
        n = tf.shape(real)[axis]
        message = tf.strings.format(
            self.batch_error("{}") + " (A last, partial batch of an epoch has fewer rows: "
            "batch with drop_remainder=True.)", [n])
        return real, [tf.debugging.Assert(tf.equal(n, expected), [message])]

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
            real, checks = self.checked_batch(data)
            with tf.control_dependencies(checks):
                self.train_one(real if steps == 1 else tf.gather(real, i))

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
