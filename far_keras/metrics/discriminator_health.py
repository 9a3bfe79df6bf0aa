"""Is the discriminator alive? Measurements that tell a trained GAN from a dead one.

A penalised discriminator can settle at D ≡ 1/2 with zero gradient: every later
generator step is then a no-op, the generator freezes wherever it was, and whatever
the sample metrics say is not evidence about the method (FAR paper, section 6.1
settings give a live D; ten times the data scale's worth of extra penalty does not).
We measure, on real points x and generated points y:

- ``d_spread``: standard deviation of D = σ(D0) over x ∪ y (0 for a constant D);
- ``grad_real`` / ``grad_fake``: mean ‖∇D0‖ at x and at y;
- ``grad_scaled``: mean ‖∇D0‖ over x ∪ y times the data's spread (RMS distance of x
  to its mean): the change of the logit across the data, free of the data's units;
- ``dead_relu``: fraction of hidden ReLU units that output 0 on every point.

A check *looks collapsed* when D is constant (``d_spread`` < ``spread_tol``) and has
no gradient (``grad_scaled`` < ``grad_tol``); :class:`CollapseDetector` flags a run
after ``patience`` consecutive such checks.

A live D can still starve the generator: a check *looks stalled* when D's gradient at
the generated points is under ``STALL_RATIO`` (5 %, ``--stall_ratio``) of its gradient at the
real ones.
FAR can do this to itself: the lowest-scored fakes are trained as real *with* the
zero-centred penalty (eq. 12), which flattens D where the fakes are (seen on ring8:
‖∇D0‖ 0.003 at the fakes, 1.5 at the real points, no new mode for 400k steps). That
is a warning, not a collapse: the run is a trained GAN that stopped moving.
"""

# TensorFlow is imported by the functions that measure: the verdict rules below
# (looks_stalled, CollapseDetector, ...) also serve TF-free tools (reports,
# stall_calibration, study_tables), which should not pay TensorFlow's start-up.

SPREAD_TOL = 1e-3
GRAD_TOL = 1e-2
# Calibrated on the penalty study's 84 screen runs on ring8 at 200k steps
# (reports/penalty_study/stall/stall.md), chosen from those results: the runs stuck at
# 3 modes had a ratio of at most 0.015 through their last evaluations, every run that
# was still moving or covered all modes at least 0.14, and any threshold between them
# flags the same runs; 0.05 is near the gap's geometric middle (0.046), so it flags the
# 3-mode triangle of the reference setting's default run (ratio 0.026). The old 0.01
# sat at the stuck runs' own values and missed half of them.
STALL_RATIO = 0.05


def hidden_relu_outputs(discriminator, x):
    """Outputs of the discriminator's hidden ReLU layers on ``x`` (Sequential nets).

    Returns (logits, [activations]); the list is empty for networks that are not a
    plain stack of layers (their dead-unit fraction is not measured).
    """
    import keras
    if not isinstance(discriminator, keras.Sequential):
        return discriminator(x, training=False), []
    acts = []
    h = x
    for layer in discriminator.layers:
        h = layer(h, training=False)
        activation = getattr(layer, "activation", None)
        if getattr(activation, "__name__", "") == "relu":
            acts.append(h)
    return h, acts


def _measure(discriminator, real, fake):
    import tensorflow as tf
    points = tf.concat([real, fake], 0)
    with tf.GradientTape() as tape:
        tape.watch(points)
        logits, acts = hidden_relu_outputs(discriminator, points)
        logits = tf.cast(tf.reshape(logits, [-1]), tf.float32)
        total = tf.reduce_sum(logits)
    grads = tape.gradient(total, points)
    norms = tf.norm(tf.reshape(tf.cast(grads, tf.float32), [tf.shape(points)[0], -1]), axis=1)
    n = tf.shape(real)[0]
    flat_real = tf.reshape(tf.cast(real, tf.float32), [n, -1])
    scale = tf.sqrt(tf.reduce_mean(tf.reduce_sum(
        tf.square(flat_real - tf.reduce_mean(flat_real, 0)), axis=1)))
    if acts:
        alive = tf.concat([tf.reduce_any(a > 0, axis=0) for a in acts], 0)
        dead = 1.0 - tf.reduce_mean(tf.cast(alive, tf.float32))
    else:
        dead = tf.constant(float("nan"))
    prob = tf.sigmoid(logits)
    return {
        "d_spread": tf.math.reduce_std(prob),
        "d_real_mean": tf.reduce_mean(prob[:n]),
        "d_fake_mean": tf.reduce_mean(prob[n:]),
        "grad_real": tf.reduce_mean(norms[:n]),
        "grad_fake": tf.reduce_mean(norms[n:]),
        "grad_scaled": tf.reduce_mean(norms) * scale,
        "dead_relu": dead,
    }


def discriminator_health(discriminator, real, fake):
    """The measurements above, as Python floats, for real [n, ...] and fake [m, ...]."""
    import tensorflow as tf
    out = _measure(discriminator, tf.convert_to_tensor(real, tf.float32),
                   tf.convert_to_tensor(fake, tf.float32))
    return {k: float(v) for k, v in out.items()}


def compiled_health(discriminator):
    """``discriminator_health`` as one traced function (called every log interval)."""
    import tensorflow as tf
    fn = tf.function(lambda real, fake: _measure(discriminator, real, fake))

    def health(real, fake):
        out = fn(tf.convert_to_tensor(real, tf.float32), tf.convert_to_tensor(fake, tf.float32))
        return {k: float(v) for k, v in out.items()}

    return health


def looks_collapsed(health, spread_tol=SPREAD_TOL, grad_tol=GRAD_TOL):
    """True when D is constant on the data and the samples and has no gradient."""
    return health["d_spread"] < spread_tol and health["grad_scaled"] < grad_tol


def looks_stalled(health, ratio=STALL_RATIO):
    """True when D's gradient at the fakes is under ``ratio`` of that at the reals."""
    return health["grad_fake"] < ratio * health["grad_real"]


def stall_message(step, ratio=STALL_RATIO):
    return (f"generator stalled at step {step}: D's gradient at the generated points is "
            f"under {ratio:.0%} of its gradient at the real ones, so the samples no "
            "longer move")


def collapse_message(step):
    return (f"discriminator collapsed at step {step}: D is constant (D(x) = D(G(z)), no "
            "spread) with no gradient, so the generator no longer learns: what follows is "
            "not a trained GAN")


class CollapseDetector:
    """Flags a run after ``patience`` consecutive checks that look collapsed (or
    satisfy ``predicate``: ``looks_stalled`` gives the stall detector).

    ``collapsed_at`` is the step of the first check of that streak; once set it
    stays set (a run that froze is reported as such even if D wakes up later: the
    frozen stretch is not evidence either).
    """

    def __init__(self, patience=3, spread_tol=SPREAD_TOL, grad_tol=GRAD_TOL, predicate=None):
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        self.patience = patience
        # what counts as a bad check (default: looks collapsed)
        self.predicate = predicate or (lambda h: looks_collapsed(h, spread_tol, grad_tol))
        self.streak_start = None
        self.streak = 0
        self.collapsed_at = None
        self.checks = 0

    def update(self, step, health):
        """Feeds one check; returns True the first time the run is flagged."""
        self.checks += 1
        if self.predicate(health):
            if self.streak == 0:
                self.streak_start = step
            self.streak += 1
        else:
            self.streak = 0
        if self.collapsed_at is None and self.streak >= self.patience:
            self.collapsed_at = self.streak_start
            return True
        return False

    def state(self):
        return {"checks": self.checks, "collapsed_at": self.collapsed_at,
                "streak": self.streak, "streak_start": self.streak_start}

    def load(self, state):
        """Restores a saved ``state()`` (a resumed run keeps its verdict)."""
        self.checks = int(state.get("checks", 0))
        self.collapsed_at = state.get("collapsed_at")
        self.streak = int(state.get("streak", 0))
        self.streak_start = state.get("streak_start")
