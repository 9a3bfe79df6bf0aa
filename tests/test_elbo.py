"""ELBO pieces (objectives/elbo.py) against closed forms and NumPy Monte Carlo.

The toy is a linear-Gaussian model where everything is known exactly:
z ~ N(0, I_d), x | z ~ N(A z + b, σ² I_D) with x shaped [H, W, C] like an h2 map.
A = Q diag(a) with orthonormal columns Q, so the exact posterior is diagonal:
S = diag(1 / (1 + a²/σ²)), m = S Aᵀ (x − b) / σ², and
log p(x) = log N(x; b, A Aᵀ + σ² I).
"""

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from far_keras.objectives import elbo

H, W, C = 2, 3, 2
DIM = H * W * C
LATENT = 4
SIGMA = 0.7


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(DIM, LATENT)))
    a = np.array([2.0, 1.0, 0.5, 1.5])
    A = q * a  # columns orthogonal, AᵀA = diag(a²)
    b = rng.normal(size=DIM) * 0.3
    x = A @ rng.normal(size=LATENT) + b + SIGMA * rng.normal(size=DIM)
    post_var = 1.0 / (1.0 + a ** 2 / SIGMA ** 2)
    post_mean = post_var * (A.T @ (x - b)) / SIGMA ** 2
    log_px = stats.multivariate_normal(b, A @ A.T + SIGMA ** 2 * np.eye(DIM)).logpdf(x)
    return dict(A=A, b=b, x=x, a=a, post_mean=post_mean, post_scale=np.sqrt(post_var),
                log_px=log_px)


def numpy_kl(mu, s):
    return 0.5 * np.sum(mu ** 2 + s ** 2 - 1.0 - 2.0 * np.log(s), axis=-1)


def closed_form_elbo(toy, mu, s):
    """E_q[log p(x|z)] − KL(q ‖ p) for the toy, exactly."""
    A, b, x = toy["A"], toy["b"], toy["x"]
    residual = x - A @ mu - b
    expected_loglik = (-0.5 * DIM * np.log(2 * np.pi * SIGMA ** 2)
                       - (residual @ residual + np.sum(toy["a"] ** 2 * s ** 2)) / (2 * SIGMA ** 2))
    return expected_loglik - numpy_kl(mu, s)


def library_single_sample_elbos(toy, mu, s, replicas, seed):
    """Our pipeline on `replicas` copies of x: z = sample_latent(...), h2(x̂) =
    A z + b reshaped to [H, W, C], then negative_elbo. Returns the batch-mean
    NegativeElbo and the per-replica single-sample −ELBO estimates."""
    mean = tf.constant(np.tile(mu, (replicas, 1)))
    log_scale = tf.constant(np.tile(np.log(s), (replicas, 1)))
    z = elbo.sample_latent(mean, log_scale, seed=seed)
    h2_recon = tf.reshape(tf.matmul(z, toy["A"], transpose_b=True) + toy["b"], [-1, H, W, C])
    h2_real = tf.constant(np.tile(toy["x"].reshape(1, H, W, C), (replicas, 1, 1, 1)))
    parts = elbo.negative_elbo(h2_real, h2_recon, mean, log_scale, SIGMA)
    per_replica = (elbo.reconstruction_nll(elbo.observation_model(h2_recon, SIGMA), h2_real)
                   + elbo.kl_term(elbo.posterior(mean, log_scale), elbo.prior(LATENT, tf.float64)))
    return parts, per_replica.numpy()


def numpy_mc_elbo(toy, mu, s, samples, seed):
    """Independent Monte Carlo ELBO in NumPy/SciPy: mean of log p(x|z_i) − KL."""
    rng = np.random.default_rng(seed)
    z = mu + s * rng.normal(size=(samples, LATENT))
    means = z @ toy["A"].T + toy["b"]
    loglik = stats.norm(means, SIGMA).logpdf(toy["x"]).sum(axis=1)
    values = loglik - numpy_kl(mu, s)
    return values.mean(), values.std() / np.sqrt(samples)


def test_kl_matches_closed_form():
    rng = np.random.default_rng(1)
    mu = rng.normal(size=(5, 6))
    log_s = rng.normal(size=(5, 6)) * 0.5
    kl = elbo.kl_term(elbo.posterior(tf.constant(mu), tf.constant(log_s)),
                      elbo.prior(6, tf.float64))
    assert tuple(kl.shape) == (5,)
    np.testing.assert_allclose(kl.numpy(), numpy_kl(mu, np.exp(log_s)), rtol=1e-12)


def test_kl_zero_at_prior():
    kl = elbo.kl_term(elbo.posterior(tf.zeros([3, 4]), tf.zeros([3, 4])), elbo.prior(4))
    np.testing.assert_allclose(kl.numpy(), 0.0, atol=1e-7)


def test_observation_model_log_prob():
    rng = np.random.default_rng(2)
    loc = rng.normal(size=(3, H, W, C))
    value = rng.normal(size=(3, H, W, C))
    obs = elbo.observation_model(tf.constant(loc), 0.4)
    assert obs.batch_shape == [3] and obs.event_shape == [H, W, C]
    expected = stats.norm(loc, 0.4).logpdf(value).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(-elbo.reconstruction_nll(obs, tf.constant(value)).numpy(),
                               expected, rtol=1e-12)


@pytest.mark.parametrize("posterior_kind", ["exact", "shifted"])
def test_single_sample_elbo_agrees_with_numpy_monte_carlo(toy, posterior_kind):
    mu, s = toy["post_mean"], toy["post_scale"]
    if posterior_kind == "shifted":
        mu, s = mu + 0.4, s * 1.8
    replicas = 20000
    parts, per_replica = library_single_sample_elbos(toy, mu, s, replicas, seed=3)
    ours = -float(parts.loss)
    ours_se = per_replica.std() / np.sqrt(replicas)
    ref, ref_se = numpy_mc_elbo(toy, mu, s, samples=200000, seed=4)
    assert abs(ours - ref) < 5 * np.hypot(ours_se, ref_se)
    # Against the exact expectation as well.
    assert abs(ours - closed_form_elbo(toy, mu, s)) < 5 * ours_se
    # The batch-mean parts are consistent, and the KL part has no MC noise.
    assert float(parts.loss) == pytest.approx(float(parts.reconstruction_nll + parts.kl), rel=1e-12)
    assert float(parts.kl) == pytest.approx(numpy_kl(mu, s), rel=1e-12)
    assert float(parts.loss) == pytest.approx(per_replica.mean(), rel=1e-10)


def test_elbo_bounds_log_evidence_tight_at_exact_posterior(toy):
    mu, s = toy["post_mean"], toy["post_scale"]
    # Exact posterior: ELBO = log p(x) exactly.
    assert closed_form_elbo(toy, mu, s) == pytest.approx(toy["log_px"], abs=1e-9)
    replicas = 20000
    parts, per_replica = library_single_sample_elbos(toy, mu, s, replicas, seed=5)
    se = per_replica.std() / np.sqrt(replicas)
    assert abs(-float(parts.loss) - toy["log_px"]) < 5 * se
    # Any other q: ELBO < log p(x), by far more than the MC error.
    for shift, scale in [(0.4, 1.0), (0.0, 1.8), (-0.3, 0.5)]:
        gap = toy["log_px"] - closed_form_elbo(toy, mu + shift, s * scale)
        assert gap > 0
        parts, per_replica = library_single_sample_elbos(
            toy, mu + shift, s * scale, replicas, seed=6)
        se = per_replica.std() / np.sqrt(replicas)
        assert toy["log_px"] - (-float(parts.loss)) > gap - 5 * se > 10 * se


def test_samples_are_reparameterised():
    rng = np.random.default_rng(7)
    mean = tf.Variable(rng.normal(size=(4, 3)))
    log_scale = tf.Variable(rng.normal(size=(4, 3)) * 0.3)
    h2_mean = tf.Variable(rng.normal(size=(4, H, W, C)))
    with tf.GradientTape(persistent=True) as tape:
        z = elbo.sample_latent(mean, log_scale, seed=8)
        h2_tilde = elbo.sample_observation(h2_mean, 0.5, seed=9)
        tfp_sample = elbo.observation_model(h2_mean, 0.5).sample(seed=10)
        z_sum, h_sum, tfp_sum = (tf.reduce_sum(t) for t in (z, h2_tilde, tfp_sample))
    # z = μ + s ε: ∂z/∂μ = 1, ∂z/∂log s = s ε = z − μ.
    np.testing.assert_allclose(tape.gradient(z_sum, mean).numpy(), 1.0)
    np.testing.assert_allclose(tape.gradient(z_sum, log_scale).numpy(), (z - mean).numpy(),
                               rtol=1e-12)
    # h̃2 = h2(x̂) + σ ε: gradient 1 w.r.t. h2(x̂), for ours and for TFP's .sample().
    np.testing.assert_allclose(tape.gradient(h_sum, h2_mean).numpy(), 1.0)
    np.testing.assert_allclose(tape.gradient(tfp_sum, h2_mean).numpy(), 1.0)


def test_sample_observation_moments():
    loc = np.linspace(-1, 1, H * W * C).reshape(1, H, W, C)
    samples = elbo.sample_observation(tf.constant(np.repeat(loc, 40000, axis=0)), 0.3,
                                      seed=11).numpy()
    np.testing.assert_allclose(samples.mean(axis=0), loc[0], atol=5 * 0.3 / np.sqrt(40000))
    np.testing.assert_allclose(samples.std(axis=0), 0.3, rtol=0.02)


def test_samplers_take_the_models_noise():
    """With ``noise`` given (the models' counter-based ε) the samplers are the closed
    forms z = μ + exp(log s)·ε and h̃2 = h2 + σ·ε, and stay differentiable in μ, h2."""
    rng = np.random.default_rng(5)
    mean, log_scale, eps = (rng.standard_normal((4, 3)).astype(np.float32) for _ in range(3))
    z = elbo.sample_latent(mean, log_scale, noise=eps)
    np.testing.assert_allclose(z.numpy(), mean + np.exp(log_scale) * eps, rtol=1e-6)
    h2 = tf.Variable(rng.standard_normal((4, 2, 2, 3)).astype(np.float32))
    noise = rng.standard_normal((4, 2, 2, 3)).astype(np.float32)
    with tf.GradientTape() as tape:
        h2_tilde = elbo.sample_observation(h2, 0.7, noise=noise)
        total = tf.reduce_sum(h2_tilde)
    np.testing.assert_allclose(h2_tilde.numpy(), h2.numpy() + 0.7 * noise, rtol=1e-6)
    np.testing.assert_allclose(tape.gradient(total, h2).numpy(), np.ones((4, 2, 2, 3)))
