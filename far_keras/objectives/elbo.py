"""ELBO pieces of the SDKL family (Berger & Sebag, sec. 2.2 eq. 5, sec. 3.2 eq. 17,
sec. 4.2), built on TensorFlow Probability distributions.

Generative model (VAE, Kingma & Welling 2013, with the observation model of
sec. 4.2 on discriminator features instead of pixels):

    p(z)       = N(0, I_d)                                   ``prior``
    q(z|x)     = N(μ(x), diag(s(x)²)),  s = exp(log_scale)   ``posterior``
    x̂          = Dec(z)
    p_θ(x|z)   = N(h2(x) ; h2(x̂), σ² I)                      ``observation_model``

where h2 is the activation map [H, W, C] of the discriminator's second convolution
layer (``nets.sdkl.SDKLDiscriminator.features``) and σ a fixed hyperparameter.
The observation model is ``tfd.Independent(tfd.Normal(h2(x̂), σ),
reinterpreted_batch_ndims=3)``: one event per image, its log-density the sum over
the H·W·C feature entries.

Negative ELBO of a real image x (eq. 5, eq. 17), per example:

    −ELBO(x) = E_{q(z|x)}[ −log p_θ(x|z) ] + KL(q(z|x) ‖ p(z))
             = reconstruction NLL           + KL ("compression", sec. 5.1)

estimated with one reparameterised z = μ + s·ε per example (the model draws it,
``sample_latent``) and the KL in closed form (``tfd.kl_divergence``). It bounds
−log p_θ(x) from above, so its data average bounds
E_{p_D}[−log p_θ] = KL(p_D ‖ p_θ) + H(p_D) from above, H(p_D) being constant in θ:
the mode-covering half of SDKL (eq. 17, eq. 22).

Sampling the model (sec. 3.1, 4.2): x ~ p_θ(x|z) is emulated at h2 as
h̃2 = h2(x̂) + σ·ε (``sample_observation``; also ``observation_model(...).sample()``,
which TFP implements as the same fully reparameterised map), so gradients reach
θ through h2(x̂); h̃2 is fed to the discriminator's head.

Reductions: per-example terms are *sums* over feature entries (NLL) and latent
dimensions (KL), as in a likelihood; batch means are taken only in
``negative_elbo``. The NLL therefore grows with H·W·C (its constant part alone is
H·W·C·(log σ + ½ log 2π)), consistent with the paper's reconstruction loss being
orders of magnitude above the discriminator loss (sec. 5.1).
"""

from typing import NamedTuple

import keras
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


def _as_dtype(value, dtype):
    # tf.cast(0.4, tf.float64) would go through float32 first; dtype_hint does not.
    return tf.cast(tf.convert_to_tensor(value, dtype_hint=dtype), dtype)


def _standard_normal_like(t, seed):
    return keras.random.normal(tf.shape(t), dtype=t.dtype, seed=seed)


def prior(latent_dim, dtype=tf.float32):
    """p(z) = N(0, I_d) as an ``Independent(Normal)`` with event shape [d]."""
    return tfd.Independent(
        tfd.Normal(loc=tf.zeros([latent_dim], dtype), scale=tf.ones([latent_dim], dtype)),
        reinterpreted_batch_ndims=1, name="prior")


def posterior(mean, log_scale):
    """q(z|x) = N(mean, diag(exp(log_scale)²)), batch [B], event [d].

    Args:
      mean, log_scale: encoder outputs, [B, d] each (``nets.sdkl.sdkl_encoder``).
    """
    return tfd.Independent(
        tfd.Normal(loc=mean, scale=tf.exp(log_scale)),
        reinterpreted_batch_ndims=1, name="posterior")


def kl_term(q, p):
    """KL(q(z|x) ‖ p(z)) per example, [B], analytic (``tfd.kl_divergence``).

    For the diagonal Gaussian against N(0, I) this is
    ½ Σ_j (μ_j² + s_j² − 1 − 2 log s_j) (Kingma & Welling 2013, appendix B).
    """
    return tfd.kl_divergence(q, p)


def observation_model(h2_mean, sigma):
    """p_θ(·|z) = N(h2(x̂), σ² I) over the h2 feature map (sec. 4.2).

    Args:
      h2_mean: h2(x̂) = features(Dec(z)), [B, H, W, C].
      sigma: σ > 0, scalar (Python float or tensor), the noise scale at h2.

    Returns:
      ``tfd.Independent(tfd.Normal(h2_mean, σ), reinterpreted_batch_ndims=3)``:
      batch [B], event [H, W, C].
    """
    h2_mean = tf.convert_to_tensor(h2_mean)
    return tfd.Independent(
        tfd.Normal(loc=h2_mean, scale=_as_dtype(sigma, h2_mean.dtype)),
        reinterpreted_batch_ndims=3, name="observation_model")


def reconstruction_nll(observation, h2_real):
    """−log p_θ(x|z) = −observation.log_prob(h2(x)) per example, [B].

    Args:
      observation: ``observation_model(h2(Dec(z)), σ)`` with z ~ q(z|x).
      h2_real: h2(x) of the real images x that were encoded, [B, H, W, C].
    """
    return -observation.log_prob(h2_real)


def sample_latent(mean, log_scale, seed=None, noise=None):
    """Reparameterised z = μ + exp(log_scale)·ε, ε ~ N(0, I): a sample of
    ``posterior(mean, log_scale)`` through which gradients reach the encoder.

    ε is ``noise`` when given (the models pass their counter-based draws), else drawn
    with ``seed`` (anything ``keras.random.normal`` accepts).
    """
    mean = tf.convert_to_tensor(mean)
    eps = _standard_normal_like(mean, seed) if noise is None else tf.cast(noise, mean.dtype)
    return mean + tf.exp(log_scale) * eps


def sample_observation(h2_mean, sigma, seed=None, noise=None):
    """Reparameterised sample of p_θ(x|z) at h2: h̃2 = h2(x̂) + σ·ε (sec. 4.2).

    Differentiable in ``h2_mean`` (hence in the decoder's weights), as the
    mode-seeking term E_{p_θ}[−D0(x)] needs (eq. 15). ``seed`` and ``noise`` as in
    ``sample_latent``.
    """
    h2_mean = tf.convert_to_tensor(h2_mean)
    eps = (_standard_normal_like(h2_mean, seed) if noise is None
           else tf.cast(noise, h2_mean.dtype))
    return h2_mean + _as_dtype(sigma, h2_mean.dtype) * eps


class NegativeElbo(NamedTuple):
    """Batch means of −ELBO and of its two parts (scalars), for the loss and logs.

    loss = reconstruction_nll + kl.
    """

    loss: tf.Tensor
    reconstruction_nll: tf.Tensor
    kl: tf.Tensor


def negative_elbo(h2_real, h2_reconstruction, mean, log_scale, sigma):
    """Single-sample estimate of −ELBO (eq. 5) averaged over the batch.

    Args:
      h2_real: h2(x) for the real batch x, [B, H, W, C].
      h2_reconstruction: h2(Dec(z)) with z = ``sample_latent(mean, log_scale)``,
        [B, H, W, C].
      mean, log_scale: the encoder's outputs for x, [B, d].
      sigma: σ of the observation model.

    Returns:
      ``NegativeElbo(loss, reconstruction_nll, kl)``: batch means of
      −log p_θ(x|z), of KL(q(z|x) ‖ p(z)) and of their sum.

    Which weights the gradient of these terms may update (e.g. never the
    discriminator's, although h2 belongs to it) is the model's decision.
    """
    mean = tf.convert_to_tensor(mean)
    q = posterior(mean, log_scale)
    p = prior(mean.shape[-1], mean.dtype)
    nll = tf.reduce_mean(reconstruction_nll(observation_model(h2_reconstruction, sigma), h2_real))
    kl = tf.reduce_mean(kl_term(q, p))
    return NegativeElbo(loss=nll + kl, reconstruction_nll=nll, kl=kl)
