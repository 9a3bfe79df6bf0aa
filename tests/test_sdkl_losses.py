"""SDKL losses (objectives/sdkl_losses.py).

Key check (sec. 3.1, eqs. 15 and 22): on a 1-D toy where the optimal discriminator
is known, differentiating the loss *with D0 held fixed* gives the gradient of the
intended divergence. p_θ = N(θ, s²) with reparameterised x = θ + s·ε; D0 is the
optimal logit D0*(x) = log p_D(x) − log p_θ0(x) at the current (θ0, s0), a frozen
function of x. The −ELBO of SDKL is replaced by its exact value for this toy,
−E_{p_D}[log p_θ(x)] (a tight ELBO). The reference gradients are central finite
differences in θ and s of the divergences, each computed by numerical integration
(scipy.integrate.quad), independently of the library and of TensorFlow.

Expectations over ε ~ N(0, 1) (and over the data) use deterministic stratified
nodes Φ⁻¹((i − ½)/N), standardised to mean 0 and variance 1: exact for the
Gaussian p_D (D0* and log p_θ are quadratic in x, so only two moments matter), and
accurate to ~5e-5 (relative) for the mixture p_D. No randomness, so the tolerances are tight.
"""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from scipy import integrate, special, stats

from far_keras.objectives import gan_losses, sdkl_losses

tfd = tfp.distributions

NODES = 2 ** 18
MIX_WEIGHTS = np.array([0.5, 0.5])  # equal weights: equal node counts per component
MIX_MEANS = np.array([-1.0, 1.5])
MIX_SCALES = np.array([0.5, 0.8])
POINTS = [(1.5, 0.7), (-0.8, 1.6), (0.3, 1.0)]  # (θ0, s0)


def standard_normal_nodes(n):
    eps = stats.norm.ppf((np.arange(n) + 0.5) / n)
    return (eps - eps.mean()) / eps.std()


EPS = standard_normal_nodes(NODES)


def data_nodes(kind):
    """Nodes whose empirical distribution stands for p_D (exact first two moments,
    per mixture component)."""
    if kind == "gaussian":
        return EPS
    half = standard_normal_nodes(NODES // 2)
    return np.concatenate([m + s * half for m, s in zip(MIX_MEANS, MIX_SCALES)])


# --- NumPy / SciPy reference -----------------------------------------------------

def log_p_data_np(kind, x):
    x = np.asarray(x, np.float64)
    if kind == "gaussian":
        return stats.norm.logpdf(x)
    return special.logsumexp(stats.norm.logpdf(x[..., None], MIX_MEANS, MIX_SCALES),
                             b=MIX_WEIGHTS, axis=-1)


def kl_quad(log_p, log_q, lo, hi):
    """KL(p ‖ q) = ∫ p (log p − log q) dx on [lo, hi] by adaptive quadrature."""
    value, _ = integrate.quad(lambda x: np.exp(log_p(x)) * (log_p(x) - log_q(x)), lo, hi,
                              epsabs=1e-13, epsrel=1e-12, limit=400)
    return value


def kl_model_to_data(kind, theta, s):
    return kl_quad(lambda x: stats.norm.logpdf(x, theta, s),
                   lambda x: log_p_data_np(kind, x), theta - 15 * s, theta + 15 * s)


def kl_data_to_model(kind, theta, s):
    return kl_quad(lambda x: log_p_data_np(kind, x),
                   lambda x: stats.norm.logpdf(x, theta, s), -20.0, 20.0)


def symmetric_kl(kind, theta, s):
    return kl_data_to_model(kind, theta, s) + kl_model_to_data(kind, theta, s)


def finite_difference_gradient(f, theta, s, h=1e-4):
    return np.array([(f(theta + h, s) - f(theta - h, s)) / (2 * h),
                     (f(theta, s + h) - f(theta, s - h)) / (2 * h)])


# --- the library's losses on the toy ---------------------------------------------

def log_p_data_tf(kind, x):
    if kind == "gaussian":
        return tfd.Normal(tf.constant(0.0, tf.float64), 1.0).log_prob(x)
    return tfd.MixtureSameFamily(
        tfd.Categorical(probs=tf.constant(MIX_WEIGHTS)),
        tfd.Normal(tf.constant(MIX_MEANS), tf.constant(MIX_SCALES))).log_prob(x)


def optimal_logit(kind, theta0, s0):
    """D0*(x) = log p_D(x) − log p_θ0(x): (θ0, s0) are Python floats, so D is a
    fixed function of x and no gradient reaches θ through it."""
    model_at_theta0 = tfd.Normal(tf.constant(theta0, tf.float64), tf.constant(s0, tf.float64))
    return lambda x: log_p_data_tf(kind, x) - model_at_theta0.log_prob(x)


def library_value_and_gradient(kind, theta0, s0, loss_name):
    theta = tf.Variable(theta0, dtype=tf.float64)
    s = tf.Variable(s0, dtype=tf.float64)
    d0 = optimal_logit(kind, theta0, s0)
    with tf.GradientTape() as tape:
        x = theta + s * tf.constant(EPS)  # reparameterised samples of p_θ
        fake_logits = d0(x)
        if loss_name == "mode_seeking":
            loss = sdkl_losses.kl_model_to_data_loss(fake_logits)
        elif loss_name == "sdkl":
            # Exact −ELBO of the toy: −E_{p_D}[log p_θ(x)] over the data nodes.
            neg_elbo = -tf.reduce_mean(tfd.Normal(theta, s).log_prob(data_nodes(kind)))
            loss = sdkl_losses.sdkl_generator_loss(neg_elbo, fake_logits)
        else:  # the usual non-saturating generator loss, for contrast
            loss = gan_losses.generator_loss(fake_logits)
    grads = tape.gradient(loss, [theta, s])
    return float(loss), np.array([float(g) for g in grads])


TOLERANCE = {"gaussian": 1e-6, "mixture": 2e-4}


# --- tests -----------------------------------------------------------------------

@pytest.mark.parametrize("theta,s", POINTS)
def test_reference_matches_closed_form_for_gaussians(theta, s):
    """The quadrature + finite-difference reference itself, against the Gaussian
    KL closed forms."""
    grad_reverse = finite_difference_gradient(
        lambda t, v: kl_model_to_data("gaussian", t, v), theta, s)
    grad_forward = finite_difference_gradient(
        lambda t, v: kl_data_to_model("gaussian", t, v), theta, s)
    # KL(N(θ,s²)‖N(0,1)) = ½(s² + θ² − 1) − log s;  KL(N(0,1)‖N(θ,s²)) = log s + (1+θ²)/(2s²) − ½
    np.testing.assert_allclose(grad_reverse, [theta, s - 1 / s], rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(grad_forward, [theta / s ** 2, 1 / s - (1 + theta ** 2) / s ** 3],
                               rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("kind", ["gaussian", "mixture"])
@pytest.mark.parametrize("theta0,s0", POINTS)
def test_mode_seeking_gradient_is_reverse_kl_gradient(kind, theta0, s0):
    """∇_(θ,s) E_{p_θ}[−D0*(x)] with D0* frozen = ∇ KL(p_θ ‖ p_D) (eq. 15)."""
    value, grad = library_value_and_gradient(kind, theta0, s0, "mode_seeking")
    expected = finite_difference_gradient(
        lambda t, v: kl_model_to_data(kind, t, v), theta0, s0)
    np.testing.assert_allclose(grad, expected, rtol=TOLERANCE[kind], atol=TOLERANCE[kind] * 1e-2)
    # With D optimal, the loss value is the divergence itself.
    assert value == pytest.approx(kl_model_to_data(kind, theta0, s0), rel=TOLERANCE[kind])


@pytest.mark.parametrize("kind", ["gaussian", "mixture"])
@pytest.mark.parametrize("theta0,s0", POINTS)
def test_sdkl_gradient_is_symmetric_kl_gradient(kind, theta0, s0):
    """∇ [−ELBO + E_{p_θ}[−D0*]] = ∇ [KL(p_D ‖ p_θ) + KL(p_θ ‖ p_D)] (eq. 22)."""
    _, grad = library_value_and_gradient(kind, theta0, s0, "sdkl")
    expected = finite_difference_gradient(
        lambda t, v: symmetric_kl(kind, t, v), theta0, s0)
    np.testing.assert_allclose(grad, expected, rtol=TOLERANCE[kind], atol=TOLERANCE[kind] * 1e-2)


@pytest.mark.parametrize("theta0,s0", POINTS[:2])
def test_non_saturating_loss_does_not_follow_reverse_kl(theta0, s0):
    """Control: the toy tells losses apart. −log D*(x) differentiated with D fixed
    is *not* the KL(p_θ ‖ p_D) gradient (it is that of KL − 2 JSD)."""
    _, grad = library_value_and_gradient("gaussian", theta0, s0, "non_saturating")
    expected = finite_difference_gradient(
        lambda t, v: kl_model_to_data("gaussian", t, v), theta0, s0)
    assert np.max(np.abs(grad - expected) / np.abs(expected)) > 0.05


def test_kl_model_to_data_loss_is_huszar_loss():
    """E[−D0] = E[log(1 − D) − log D] with D = σ(D0) (eq. 16)."""
    logits = np.random.default_rng(0).normal(size=(64, 1)) * 3
    d = special.expit(logits)
    expected = np.mean(np.log1p(-d) - np.log(d))
    assert float(sdkl_losses.kl_model_to_data_loss(tf.constant(logits))) == pytest.approx(
        expected, rel=1e-10)
    # [M] and [M, 1] logits give the same value.
    assert float(sdkl_losses.kl_model_to_data_loss(tf.constant(logits[:, 0]))) == pytest.approx(
        expected, rel=1e-10)


def test_sdkl_generator_loss_is_sum():
    logits = np.random.default_rng(1).normal(size=(32, 1))
    value = sdkl_losses.sdkl_generator_loss(tf.constant(12.5, tf.float64), tf.constant(logits))
    assert float(value) == pytest.approx(12.5 - logits.mean(), rel=1e-12)


def test_vaegan_losses_match_numpy():
    rng = np.random.default_rng(2)
    real, recon, sample = (rng.normal(size=(n, 1)) * 2 for n in (16, 16, 24))
    sig = special.expit
    expected_d = (-np.mean(np.log(sig(real))) - np.mean(np.log(1 - sig(recon)))
                  - np.mean(np.log(1 - sig(sample))))
    got_d = sdkl_losses.vaegan_discriminator_loss(*(tf.constant(t) for t in (real, recon, sample)))
    assert float(got_d) == pytest.approx(expected_d, rel=1e-10)

    expected_dec = 0.25 * 40.0 - np.mean(np.log(sig(recon))) - np.mean(np.log(sig(sample)))
    got_dec = sdkl_losses.vaegan_decoder_loss(tf.constant(40.0, tf.float64), tf.constant(recon),
                                              tf.constant(sample), reconstruction_weight=0.25)
    assert float(got_dec) == pytest.approx(expected_dec, rel=1e-10)
