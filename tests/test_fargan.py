"""FARGAN (far_keras/models/gan.py) built directly from tiny networks: one
discriminator step against a closed-form SGD update for a linear D, one generator
step likewise, FAR's selection of the M0 lowest-scored of M1 candidates (eq. 11),
N0 = N − M0, and constructor errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from far_keras.models.gan import FARGAN

DIM, LATENT = 2, 3


class RecordingGenerator(keras.Model):
    """G(z) = z A (linear, no bias) that keeps every (z, G(z)) it computes, so the
    test can rebuild the fakes and candidates the model drew."""

    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(DIM, use_bias=False)
        self.seen = []

    def call(self, z, training=False):
        out = self.dense(z)
        self.seen.append((np.array(z, np.float64), np.array(out, np.float64)))
        return out


def make(batch_size=8, num_far=3, num_candidates=10, reg_weight=0.5, lr=0.1, **kwargs):
    keras.utils.set_random_seed(0)
    g = RecordingGenerator()
    g(tf.zeros([1, LATENT]))
    d = keras.Sequential([keras.Input((DIM,)), keras.layers.Dense(1)])  # D0(x) = x·w + b
    d.layers[0].kernel.assign([[0.7], [-1.3]])
    d.layers[0].bias.assign([0.2])
    model = FARGAN(g, d, latent_dim=LATENT, batch_size=batch_size, regularizer="real",
                   reg_weight=reg_weight, num_far=num_far, num_candidates=num_candidates,
                   penalty_target="logit", seed=5, **kwargs)
    model.compile(keras.optimizers.SGD(lr), keras.optimizers.SGD(lr))
    g.seen.clear()
    return model


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def softplus(a):
    return np.log1p(np.exp(a))


def test_num_real_is_n_minus_m0():
    assert make(batch_size=8, num_far=3).num_real == 5
    assert make(batch_size=8, num_far=0).num_real == 8


def test_far_samples_are_the_m0_lowest_scored_candidates():
    """D_FAR = the M0 candidates with the lowest D0 (eq. 11), in increasing D0."""
    model = make(num_far=3)
    cands = np.random.default_rng(1).standard_normal((10, DIM)).astype(np.float32)
    scores = cands @ np.array([0.7, -1.3]) + 0.2
    # (the step scores the candidates inside its compiled part, then selects)
    got = model.far_samples(tf.constant(cands), model._d(tf.constant(cands))).numpy()
    np.testing.assert_array_equal(got, cands[np.argsort(scores)[:3]])


@pytest.mark.parametrize("penalize_far", [True, False])
def test_discriminator_step_matches_closed_form_sgd_update(penalize_far):
    """For D0(x) = x·w + b and the logit penalty, ∇_x D0 = w, so eq. (12) is
    L = mean_{c ∈ D_r ∪ D_FAR} softplus(−D0(c)) + mean_y softplus(D0(y)) + λ‖w‖²,
    and one SGD step is w ← w − η ∂L/∂w, b ← b − η ∂L/∂b, computed here in NumPy.
    With ``penalize_far=False`` (the ablation) only the N0 true real rows are
    penalised, each still at λ/N: the penalty is λ (N0/N) ‖w‖²."""
    lr, lam, n, m0 = 0.1, 0.5, 8, 3
    model = make(batch_size=n, num_far=m0, num_candidates=10, reg_weight=lam, lr=lr,
                 penalize_far=penalize_far)
    share = 1.0 if penalize_far else (n - m0) / n
    w, b = np.array([0.7, -1.3]), 0.2
    real = np.random.default_rng(2).standard_normal((n - m0, DIM)).astype(np.float32)
    model.discriminator_step(tf.constant(real))

    (_, generated), = model.generator.seen  # fakes and candidates in one pass
    fake, cands = generated[:n], generated[n:]
    assert cands.shape == (10, DIM)
    far = cands[np.argsort(cands @ w + b)[:m0]]
    real_side = np.concatenate([real, far])
    a_real, a_fake = real_side @ w + b, fake @ w + b
    loss = softplus(-a_real).mean() + softplus(a_fake).mean()
    dw = (-sigmoid(-a_real)[:, None] * real_side).mean(0) \
        + (sigmoid(a_fake)[:, None] * fake).mean(0) + 2 * lam * share * w
    db = -sigmoid(-a_real).mean() + sigmoid(a_fake).mean()

    kernel, bias = model.discriminator.layers[0].get_weights()
    np.testing.assert_allclose(kernel[:, 0], w - lr * dw, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bias[0], b - lr * db, rtol=1e-5, atol=1e-6)
    assert model.trackers["d_loss"].result().numpy() == pytest.approx(loss, rel=1e-5)
    assert model.trackers["reg"].result().numpy() == pytest.approx(lam * share * w @ w,
                                                                   rel=1e-5)
    assert model.trackers["d_far"].result().numpy() == pytest.approx(
        sigmoid(far @ w + b).mean(), rel=1e-5)


def test_generator_step_matches_closed_form_sgd_update():
    """Non-saturating loss (eq. 3) on G(z) = z A: ∂/∂A mean softplus(−(zA·w + b))
    = mean_i −σ(−D0(y_i)) z_i wᵀ; D is not updated by the generator step."""
    lr = 0.1
    model = make(lr=lr)
    a0 = model.generator.dense.kernel.numpy().astype(np.float64)
    d_before = [v.copy() for v in model.discriminator.get_weights()]
    model.generator_step()
    (z, y), = model.generator.seen
    w, b = np.array([0.7, -1.3]), 0.2
    s = -sigmoid(-(y @ w + b))
    grad = np.outer((z * s[:, None]).mean(0), w)
    np.testing.assert_allclose(model.generator.dense.kernel.numpy(), a0 - lr * grad,
                               rtol=1e-5, atol=1e-6)
    for before, after in zip(d_before, model.discriminator.get_weights()):
        np.testing.assert_array_equal(before, after)
    # The logged gradient norm is mean_i ‖∂ℓ(y_i)/∂y_i‖ = mean_i σ(−D0(y_i)) ‖w‖ (eqs. 5-6).
    assert model.trackers["g_grad_norm"].result().numpy() == pytest.approx(
        np.mean(-s) * np.linalg.norm(w), rel=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(regularizer="l2"), "regularizer must be one of"),
    (dict(penalty_target="gradient"), "penalty_target must be one of"),
    (dict(num_far=8), r"num_far \(M0\) < batch_size \(N\)"),
    (dict(num_far=-1), "num_far"),
    (dict(num_far=5, num_candidates=4), r"M0 <= num_candidates \(M1\)"),
    (dict(penalize_far=False, num_far=0), "penalize_far=False .* needs"),
    (dict(penalize_far=False, regularizer="interpolation"), "penalize_far=False .* needs"),
])
def test_bad_arguments_are_clear_errors(kwargs, message):
    g = keras.Sequential([keras.Input((LATENT,)), keras.layers.Dense(DIM)])
    d = keras.Sequential([keras.Input((DIM,)), keras.layers.Dense(1)])
    args = dict(latent_dim=LATENT, batch_size=8, num_far=3, num_candidates=10)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        FARGAN(g, d, **args)


# ------------------------------------------------------ the batch rule (fit's data)
# A step takes real_batch_size = d_steps × N0 rows, N0 = N − M0; any other count is an
# error naming both numbers, and nothing trains on that batch.

def tiny(jit_compile=False, **kwargs):
    keras.utils.set_random_seed(0)
    g = keras.Sequential([keras.Input((LATENT,)), keras.layers.Dense(DIM)])
    d = keras.Sequential([keras.Input((DIM,)), keras.layers.Dense(1)])
    args = dict(latent_dim=LATENT, batch_size=8, num_far=3, num_candidates=10, seed=5)
    args.update(kwargs)
    model = FARGAN(g, d, **args)
    model.compile(keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1), jit_compile=jit_compile)
    return model


def points(n):
    return np.random.default_rng(1).normal(size=(n, DIM)).astype("float32")


def test_real_batch_size_is_d_steps_times_n_minus_m0():
    assert tiny().real_batch_size == 5
    assert tiny(d_steps=2).real_batch_size == 10
    assert tiny(num_far=0).real_batch_size == 8


def test_fit_on_an_array_checks_its_batches_before_training():
    model = tiny()
    with pytest.raises(ValueError, match=r"FARGAN got fit\(batch_size=8\); it takes 5 per "
                       r"training step: N0 = N − M0 = 8 − 3 = 5 real rows .*"
                       r"fit\(x, batch_size=5\)"):
        model.fit(points(40), batch_size=8, verbose=0)
    with pytest.raises(ValueError, match=r"without batch_size \(Keras then batches 32"):
        model.fit(points(40), verbose=0)
    with pytest.raises(ValueError, match=r"x has 12 rows, not a multiple of 5 .* last batch "
                       r"of each epoch would have 2 rows.*drop_remainder=True"):
        model.fit(points(12), batch_size=5, verbose=0)
    assert model.current_step() == 0
    model.fit(points(10), batch_size=5, verbose=0)
    assert model.current_step() == 2


def test_fit_on_an_array_with_several_steps_per_call_says_what_elements_it_takes():
    keras.utils.set_random_seed(0)
    g = keras.Sequential([keras.Input((LATENT,)), keras.layers.Dense(DIM)])
    d = keras.Sequential([keras.Input((DIM,)), keras.layers.Dense(1)])
    model = FARGAN(g, d, latent_dim=LATENT, batch_size=8, num_far=3, num_candidates=10)
    model.compile(keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1), steps_per_call=4)
    with pytest.raises(ValueError, match=r"steps_per_call=4 steps per element, so each "
                       r"element must be \[4, 5, \.\.\.\]"):
        model.fit(points(40), batch_size=5, verbose=0)
    assert model.current_step() == 0


def test_a_batch_of_known_wrong_size_fails_when_traced():
    model = tiny(d_steps=2)
    data = tf.data.Dataset.from_tensor_slices(points(40)).batch(8, drop_remainder=True)
    with pytest.raises(ValueError, match=r"got a batch of 8 real rows; it takes 10 per "
                       r"training step: d_steps = 2 discriminator steps × N0 = N − M0"):
        model.fit(data, verbose=0)
    assert model.current_step() == 0


@pytest.mark.parametrize("jit_compile", [False, True])
def test_a_short_last_batch_is_an_error_and_is_not_trained_on(jit_compile):
    # tf.data without drop_remainder: the batch size is known only when it arrives.
    # (Under XLA an assertion inside the compiled step would be dropped: the check
    # runs before it.)
    model = tiny(jit_compile=jit_compile)
    weights = []
    keep = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: weights.append(
            [w.copy() for w in model.generator.get_weights() + model.discriminator.get_weights()]))
    data = tf.data.Dataset.from_tensor_slices(points(12)).batch(5)  # 5, 5, then 2 rows
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"FARGAN got a batch of 2 real rows; it takes 5 per training "
                             r"step.*drop_remainder=True"):
        model.fit(data, verbose=0, callbacks=[keep])
    assert model.current_step() == 2 and len(weights) == 2
    after = model.generator.get_weights() + model.discriminator.get_weights()
    for a, b in zip(weights[-1], after):
        np.testing.assert_array_equal(a, b)  # the short batch changed nothing
    assert any(not np.array_equal(a, b) for a, b in zip(weights[0], weights[1]))


def test_labelled_batches_and_train_on_batch_take_the_rows():
    model = tiny()
    labelled = tf.data.Dataset.from_tensor_slices((points(10), np.arange(10))).batch(5)
    model.fit(labelled, verbose=0)  # (x, y): the labels are ignored
    model.train_on_batch(points(5))
    assert model.current_step() == 3
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError),
                       match="got a batch of 4 real rows"):
        model.train_on_batch(points(4))
    assert model.current_step() == 3
