"""Generator-side losses of the SDKL paper and of the models it is compared with
(Berger & Sebag, "New losses for generative adversarial learning", sec. 3.2, 4.1,
4.2).

Notation: p_D the data, p_θ the model, D = σ(D0) the discriminator with logit D0.
Trained with the cross-entropy ``gan_losses.discriminator_loss`` (eq. 1), D tends
to D* = p_D / (p_D + p_θ) (eq. 2), i.e. D0* = log p_D − log p_θ. Every loss here is
differentiated *with D held fixed* (the discriminator's weights receive no gradient
from it, and D0 is a fixed function of its input); sec. 3.1 builds the losses so
that this gives the gradient of the intended divergence anyway:

- KL(p_θ ‖ p_D) (mode-seeking): its gradient (eq. 14) with D0* substituted (eq. 15)
  is the gradient of E_{x~p_θ}[−D0(x)] for x a *reparameterised* sample of p_θ,
  which is Huszár's loss E[log(1 − D) − log D] (eq. 16), as log(1 − σ(a)) −
  log σ(a) = −a.  → ``kl_model_to_data_loss``
- KL(p_D ‖ p_θ) (mode-covering): E_{p_D}[−log p_θ] + const (eq. 17), bounded above by
  the VAE's −ELBO (eq. 5).  → ``objectives.elbo.negative_elbo``
- SDKL = KL(p_D ‖ p_θ) + KL(p_θ ‖ p_D) (eq. 22): −ELBO + E_{p_θ}[−D0].
  → ``sdkl_generator_loss``

The five models of sec. 4.2, in terms of these functions (D0 on a sample of
p_θ(x|z) means head(h2(Dec(z)) + σ·ε), z ~ p(z); on Dec(z) means D0(Dec(z))):

- GAN: decoder only, ``gan_losses.generator_loss(D0(Dec(z)))``; D's fakes: Dec(z).
- VAE + adversarial perceptual loss: ``negative_elbo(...).loss``; D's fakes:
  samples of p_θ (D only defines the perceptual distance).
- VAEGAN: encoder ``negative_elbo(...).loss``, decoder ``vaegan_decoder_loss``;
  D: ``vaegan_discriminator_loss`` (reconstructions and Dec(z) as fakes).
- SDKL: ``sdkl_generator_loss(neg_elbo, D0(sample of p_θ))``; D's fakes: samples
  of p_θ.
- SDKL without sampling: ``sdkl_generator_loss(neg_elbo, D0(Dec(z)))``; D's fakes:
  Dec(z).

D is trained with ``gan_losses.discriminator_loss(D0(x), D0(fake batch))``
(VAEGAN: ``vaegan_discriminator_loss``), always plus λ times the orthogonal
regulariser (``objectives.orthogonal``).

All functions return batch means (scalars) of per-example terms.
"""

import tensorflow as tf

from far_keras.objectives import gan_losses

def kl_model_to_data_loss(fake_logits):
    """E_{x~p_θ}[−D0(x)], the mode-seeking KL(p_θ ‖ p_D) surrogate (eqs. 14-16).

    With D0 held fixed and x = g_θ(z, ε) a reparameterised sample of p_θ, its
    gradient ∫ ∇_θ p_θ(x) (−D0(x)) dx equals ∇_θ KL(p_θ ‖ p_D) when D0 = D0* =
    log(p_D/p_θ) (eq. 15; the term E_{p_θ}[∇_θ log p_θ] = 0 drops out). Its value
    estimates KL(p_θ ‖ p_D) itself. Same gradient as Huszár's
    E[log(1 − D(x)) − log D(x)] (eq. 16), which equals it.

    Args:
      fake_logits: D0 on reparameterised samples of p_θ, shape [M] or [M, 1]: in
        SDKL head(h2(Dec(z)) + σ·ε), z ~ p(z); in SDKL without sampling D0(Dec(z)).

    Returns:
      Scalar, mean over the M samples.
    """
    return -tf.reduce_mean(tf.reshape(fake_logits, [-1]))


def sdkl_generator_loss(neg_elbo, fake_logits):
    """SDKL loss (eq. 22): −ELBO(data) + E_{x~p_θ}[−D0(x)].

    Minimised over encoder and decoder together; its gradient with D held fixed is
    that of KL(p_D ‖ p_θ) + KL(p_θ ‖ p_D) when D0 = D0* and the ELBO is tight: the
    mode-covering half enters through its VAE bound (eq. 17), the mode-seeking
    half through eq. 15.

    Args:
      neg_elbo: −ELBO on the real batch, a scalar (``negative_elbo(...).loss``).
      fake_logits: D0 on samples of the model, see ``kl_model_to_data_loss``. With
        D0(Dec(z)) (no noise at h2) this is "SDKL without sampling" (sec. 4.2).

    Returns:
      Scalar.
    """
    return neg_elbo + kl_model_to_data_loss(fake_logits)


def vaegan_decoder_loss(reconstruction_nll, reconstruction_logits, sample_logits,
                        reconstruction_weight=1.0):
    """VAEGAN decoder loss (Larsen et al. 2016, Algorithm 1): γ·L_llike + GAN term.

        γ · E[−log p_θ(x|z)] − E_x[log D(Dec(z_x))] − E_{z~p(z)}[log D(Dec(z))]

    with z_x ~ q(z|x): the decoder fools D on reconstructions *and* on prior
    samples, both taken without noise at h2. The GAN term is the non-saturating
    ``gan_losses.generator_loss`` on each fake set (the SDKL paper does not say
    which form its VAEGAN used; Larsen et al. write the saturating L_GAN). Larsen
    et al. keep this GAN term away from the encoder (its update is KL + L_llike
    only, i.e. ``negative_elbo(...).loss``); the model must enforce that, e.g. by
    applying this loss's gradient to the decoder's weights only.

    Args:
      reconstruction_nll: batch mean of −log p_θ(x|z), the h2 likelihood
        (``negative_elbo(...).reconstruction_nll``).
      reconstruction_logits: D0(Dec(z_x)), z_x ~ q(z|x), shape [B] or [B, 1].
      sample_logits: D0(Dec(z)), z ~ p(z), shape [M] or [M, 1].
      reconstruction_weight: γ, weight of the likelihood term for the decoder.

    Returns:
      Scalar.
    """
    adversarial = (gan_losses.generator_loss(reconstruction_logits)
                   + gan_losses.generator_loss(sample_logits))
    return reconstruction_weight * reconstruction_nll + adversarial


def vaegan_discriminator_loss(real_logits, reconstruction_logits, sample_logits):
    """VAEGAN discriminator loss (Larsen et al. 2016, Algorithm 1): −L_GAN with
    L_GAN = log D(x) + log(1 − D(Dec(z_x))) + log(1 − D(Dec(z))), batch means.

    Reconstructions and prior samples are two separate fake terms (not one pooled
    fake batch), as in Larsen et al.; the SDKL paper (sec. 4.1) points out that this
    D no longer estimates p_D / (p_D + p_θ).

    Args:
      real_logits: D0(x) on real images, [N] or [N, 1].
      reconstruction_logits: D0(Dec(z_x)), z_x ~ q(z|x).
      sample_logits: D0(Dec(z)), z ~ p(z).

    Returns:
      Scalar.
    """
    # −log(1 − σ(a)) = −log σ(−a): the fake term of the cross-entropy on a logit a
    # is the non-saturating generator loss of −a.
    return (gan_losses.discriminator_loss(real_logits, reconstruction_logits)
            + gan_losses.generator_loss(-tf.reshape(sample_logits, [-1])))
