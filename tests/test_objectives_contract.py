"""One contract for every loss, penalty and selection in ``far_keras/objectives/``
(in the style of TF-GAN's ``losses_impl_test.py``): on small random inputs each
returns finite values of the documented shape, has a non-zero gradient w.r.t. every
input it depends on, and none (or exactly zero) w.r.t. the inputs it must not
depend on, e.g. the FAR samples D_FAR (eq. 11) are constants for the generator, and
a discriminator loss (eq. 2) never sees the generator's own objective.

Values are checked elsewhere (closed forms in test_gan_losses, test_penalties, ...);
this file checks the *wiring*, and ``test_every_objective_has_a_contract`` makes a
new public function in objectives/ fail until it gets a case here.
"""

import inspect
import zlib

import numpy as np
import pytest
import tensorflow as tf

from far_keras.objectives import elbo, far, gan_losses, orthogonal, penalties, sdkl_losses

N, M, M1, D = 5, 6, 7, 3  # real batch N, fakes M, FAR candidates M1, data dimension


def _mlp(inputs):
    """D0(x) = tanh(x W1 + b1) W2 + b2 on [B, D] points, with its weights in ``inputs``
    so that the contract can ask for gradients w.r.t. them (double backprop)."""
    def d0(x, training=False):
        h = tf.tanh(tf.matmul(x, inputs["W1"]) + inputs["b1"])
        return tf.matmul(h, inputs["W2"]) + inputs["b2"]
    return d0


def _mlp_weights(rng):
    return dict(W1=rng.standard_normal((D, 4)), b1=rng.standard_normal(4),
                W2=rng.standard_normal((4, 1)), b2=rng.standard_normal(1))


_W = ("W1", "b1", "W2")  # b2 shifts D0 only: no gradient of any ∇_x penalty reaches it


def _elbo_inputs(rng):
    return dict(h2_real=rng.standard_normal((N, 2, 2, 3)),
                h2_reconstruction=rng.standard_normal((N, 2, 2, 3)),
                mean=rng.standard_normal((N, 4)), log_scale=0.3 * rng.standard_normal((N, 4)))


def _neg_elbo(part):
    return lambda x: getattr(elbo.negative_elbo(x["h2_real"], x["h2_reconstruction"],
                                                x["mean"], x["log_scale"], sigma=0.7), part)


# name: (inputs(rng), fn(inputs) -> output, output shape, depends on, must not depend on)
CASES = {
    "gan_losses.discriminator_loss": (
        lambda r: dict(real_logits=r.standard_normal((N, 1)), fake_logits=r.standard_normal((M, 1))),
        lambda x: gan_losses.discriminator_loss(x["real_logits"], x["fake_logits"]),
        [], {"real_logits", "fake_logits"}, set()),
    "gan_losses.generator_loss": (
        lambda r: dict(fake_logits=r.standard_normal((M, 1)), real_logits=r.standard_normal((N, 1))),
        lambda x: gan_losses.generator_loss(x["fake_logits"]),
        [], {"fake_logits"}, {"real_logits"}),
    "gan_losses.generator_loss_per_sample": (
        lambda r: dict(fake_logits=r.standard_normal((M, 1))),
        lambda x: gan_losses.generator_loss_per_sample(x["fake_logits"]),
        [M], {"fake_logits"}, set()),
    # 0GP-sample (eq. 12's last term, no λ): depends on the real side and on D's
    # weights (double backprop), never on the fakes.
    "penalties.real_side_regularizer": (
        lambda r: dict(real=r.standard_normal((N, D)), fake=r.standard_normal((N, D)),
                       alpha=r.uniform(size=N), **_mlp_weights(r)),
        lambda x: penalties.real_side_regularizer(_mlp(x), x["real"], x["fake"], x["alpha"])[1],
        [], {"real", *_W}, {"fake", "alpha", "b2"}),
    # ... and the D0 on the real side it returns for the loss, from the same pass
    "penalties.real_side_regularizer[logits]": (
        lambda r: dict(real=r.standard_normal((N, D)), fake=r.standard_normal((N, D)),
                       **_mlp_weights(r)),
        lambda x: penalties.real_side_regularizer(_mlp(x), x["real"], x["fake"], None)[0],
        [N, 1], {"real", *_W, "b2"}, {"fake"}),
    "penalties.real_side_regularizer[probability]": (
        lambda r: dict(real=r.standard_normal((N, D)), **_mlp_weights(r)),
        lambda x: penalties.real_side_regularizer(_mlp(x), x["real"], None, None,
                                                  target="probability")[1],
        [], {"real", *_W, "b2"}, set()),  # σ'(D0) brings b2 in
    "penalties.squared_gradient_norm": (
        lambda r: dict(real=r.standard_normal((N, D)), **_mlp_weights(r)),
        lambda x: penalties.squared_gradient_norm(_mlp(x), x["real"]),
        [N], {"real", *_W}, {"b2"}),
    "penalties.logits_and_squared_gradient_norm[logits]": (
        lambda r: dict(real=r.standard_normal((N, D)), **_mlp_weights(r)),
        lambda x: penalties.logits_and_squared_gradient_norm(_mlp(x), x["real"])[0],
        [N, 1], {"real", *_W, "b2"}, set()),
    "penalties.logits_and_squared_gradient_norm[norm]": (
        lambda r: dict(real=r.standard_normal((N, D)), **_mlp_weights(r)),
        lambda x: penalties.logits_and_squared_gradient_norm(_mlp(x), x["real"])[1],
        [N], {"real", *_W}, {"b2"}),
    # 0GP-interpolation: x̃ = αx + (1 − α)y depends on both sides and on α.
    "penalties.interpolation_gradient_penalty": (
        lambda r: dict(real=r.standard_normal((N, D)), fake=r.standard_normal((N, D)),
                       alpha=r.uniform(0.1, 0.9, N), **_mlp_weights(r)),
        lambda x: penalties.interpolation_gradient_penalty(_mlp(x), x["real"], x["fake"],
                                                           x["alpha"]),
        [], {"real", "fake", "alpha", *_W}, {"b2"}),
    "penalties.interpolation_regularizer": (
        lambda r: dict(real=r.standard_normal((N, D)), fake=r.standard_normal((N, D)),
                       alpha=r.uniform(0.1, 0.9, N), **_mlp_weights(r)),
        lambda x: penalties.interpolation_regularizer(_mlp(x), x["real"], x["fake"],
                                                      x["alpha"])[1],
        [], {"real", "fake", "alpha", *_W}, {"b2"}),
    "penalties.interpolates": (
        lambda r: dict(real=r.standard_normal((N, D)), fake=r.standard_normal((N, D)),
                       alpha=r.uniform(0.1, 0.9, N)),
        lambda x: penalties.interpolates(x["real"], x["fake"], x["alpha"]),
        [N, D], {"real", "fake", "alpha"}, set()),
    # FAR (eq. 11): D_FAR are data for D; no gradient to the generator's candidates
    # nor to the logits that ranked them.
    "far.far_select": (
        lambda r: dict(candidates=r.standard_normal((M1, D)), logits=r.standard_normal((M1, 1))),
        lambda x: far.far_select(x["candidates"], x["logits"], 3)[0],
        [3, D], set(), {"candidates", "logits"}),
    "far.far_real_batch": (
        lambda r: dict(real=r.standard_normal((N - 2, D)), far=r.standard_normal((2, D))),
        lambda x: far.far_real_batch(x["real"], x["far"]),
        [N, D], {"real", "far"}, set()),
    "orthogonal.orthogonal_penalty": (
        lambda r: dict(kernel=r.standard_normal((2, 2, 3, 4))),
        lambda x: orthogonal.orthogonal_penalty(x["kernel"]),
        [], {"kernel"}, set()),
    "orthogonal.orthogonal_penalty[l1]": (
        lambda r: dict(kernel=r.standard_normal((5, 4))),
        lambda x: orthogonal.orthogonal_penalty(x["kernel"], norm="l1"),
        [], {"kernel"}, set()),
    "orthogonal.orthogonal_regularizer": (
        lambda r: dict(conv=r.standard_normal((2, 2, 3, 4)), dense=r.standard_normal((6, 2))),
        lambda x: orthogonal.orthogonal_regularizer([x["conv"], x["dense"]]),
        [], {"conv", "dense"}, set()),
    # −ELBO (eq. 5): the KL part never sees the h2 features, the NLL part never the
    # encoder's outputs (its z is already decoded into h2_reconstruction).
    "elbo.negative_elbo": (_elbo_inputs, _neg_elbo("loss"), [],
                           {"h2_real", "h2_reconstruction", "mean", "log_scale"}, set()),
    "elbo.negative_elbo[kl]": (_elbo_inputs, _neg_elbo("kl"), [],
                               {"mean", "log_scale"}, {"h2_real", "h2_reconstruction"}),
    "elbo.negative_elbo[reconstruction_nll]": (
        _elbo_inputs, _neg_elbo("reconstruction_nll"), [],
        {"h2_real", "h2_reconstruction"}, {"mean", "log_scale"}),
    "elbo.kl_term": (
        _elbo_inputs,
        lambda x: elbo.kl_term(elbo.posterior(x["mean"], x["log_scale"]), elbo.prior(4, x["mean"].dtype)),
        [N], {"mean", "log_scale"}, {"h2_real"}),
    "elbo.reconstruction_nll": (
        _elbo_inputs,
        lambda x: elbo.reconstruction_nll(elbo.observation_model(x["h2_reconstruction"], 0.7),
                                          x["h2_real"]),
        [N], {"h2_real", "h2_reconstruction"}, {"mean"}),
    "sdkl_losses.kl_model_to_data_loss": (
        lambda r: dict(fake_logits=r.standard_normal((M, 1))),
        lambda x: sdkl_losses.kl_model_to_data_loss(x["fake_logits"]),
        [], {"fake_logits"}, set()),
    "sdkl_losses.sdkl_generator_loss": (
        lambda r: dict(neg_elbo=r.standard_normal(()), fake_logits=r.standard_normal((M, 1))),
        lambda x: sdkl_losses.sdkl_generator_loss(x["neg_elbo"], x["fake_logits"]),
        [], {"neg_elbo", "fake_logits"}, set()),
    "sdkl_losses.vaegan_decoder_loss": (
        lambda r: dict(nll=r.standard_normal(()), rec=r.standard_normal((N, 1)),
                       sample=r.standard_normal((M, 1)), real=r.standard_normal((N, 1))),
        lambda x: sdkl_losses.vaegan_decoder_loss(x["nll"], x["rec"], x["sample"], 2.0),
        [], {"nll", "rec", "sample"}, {"real"}),
    "sdkl_losses.vaegan_decoder_loss[γ=0]": (
        lambda r: dict(nll=r.standard_normal(()), rec=r.standard_normal((N, 1)),
                       sample=r.standard_normal((M, 1))),
        lambda x: sdkl_losses.vaegan_decoder_loss(x["nll"], x["rec"], x["sample"], 0.0),
        [], {"rec", "sample"}, {"nll"}),
    "sdkl_losses.vaegan_discriminator_loss": (
        lambda r: dict(real=r.standard_normal((N, 1)), rec=r.standard_normal((N, 1)),
                       sample=r.standard_normal((M, 1))),
        lambda x: sdkl_losses.vaegan_discriminator_loss(x["real"], x["rec"], x["sample"]),
        [], {"real", "rec", "sample"}, set()),
}

# Public functions of objectives/ that are not losses, penalties or selections
# (distributions, samplers, helpers): covered by their own modules' tests.
NOT_OBJECTIVES = {"elbo.prior", "elbo.posterior", "elbo.observation_model",
                  "elbo.sample_latent", "elbo.sample_observation",
                  "orthogonal.kernel_matrix", "orthogonal.model_kernels"}


def test_every_objective_has_a_contract():
    """A new loss or penalty in objectives/ must be added to CASES (or NOT_OBJECTIVES)."""
    modules = dict(elbo=elbo, far=far, gan_losses=gan_losses, orthogonal=orthogonal,
                   penalties=penalties, sdkl_losses=sdkl_losses)
    public = {f"{m}.{name}" for m, mod in modules.items()
              for name, f in vars(mod).items()
              if inspect.isfunction(f) and not name.startswith("_") and f.__module__ == mod.__name__}
    covered = {name.split("[")[0] for name in CASES} | NOT_OBJECTIVES
    assert public - covered == set(), "objectives without a contract case"
    assert covered - public == set(), "contract cases for functions that no longer exist"


@pytest.mark.parametrize("name", sorted(CASES))
def test_contract(name):
    dtype = tf.float32
    make_inputs, fn, shape, depends, independent = CASES[name]
    assert depends.isdisjoint(independent)
    raw = make_inputs(np.random.default_rng(zlib.crc32(name.encode())))
    inputs = {k: tf.constant(v, dtype) for k, v in raw.items()}
    assert depends | independent <= set(inputs), "the case names inputs it does not build"
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(list(inputs.values()))
        out = fn(inputs)
        # A random projection rather than a plain sum, so that an output that only
        # depends on an input through a constant total (e.g. a permutation) still shows.
        weights = tf.constant(np.random.default_rng(1).uniform(0.5, 1.5, out.shape), out.dtype)
        scalar = tf.reduce_sum(out * weights)
    assert out.shape.as_list() == shape
    assert out.dtype == dtype
    assert np.isfinite(out.numpy()).all()
    for key in depends:
        g = tape.gradient(scalar, inputs[key])
        assert g is not None, f"no gradient w.r.t. {key}"
        assert np.isfinite(g.numpy()).all()
        assert np.abs(g.numpy()).max() > 0, f"zero gradient w.r.t. {key}"
    for key in independent:
        g = tape.gradient(scalar, inputs[key])
        assert g is None or not np.any(g.numpy()), f"gradient w.r.t. {key}, which must not be used"
