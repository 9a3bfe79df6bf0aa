"""--mixed_precision: float16/bfloat16 compute, float32 weights, losses and penalty."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from far_keras import builders, config, experiment
from far_keras.objectives import penalties


def test_penalty_is_float32_for_a_half_precision_discriminator():
    layer = keras.layers.Dense(1, dtype="mixed_float16", kernel_initializer="ones")
    x = tf.constant(np.random.RandomState(0).randn(5, 3), tf.float32)
    logits, sq = penalties.logits_and_squared_gradient_norm(layer, x)
    assert logits.dtype == tf.float32 and sq.dtype == tf.float32
    np.testing.assert_allclose(sq.numpy(), 3.0, rtol=1e-3)  # ∇D0 = (1, 1, 1)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_far_gan_trains_and_resumes_in_mixed_precision(tmp_path, policy):
    values = dict(dataset="digits", base_width=4, num_far=8, batch_size=16, num_candidates=32,
                  train_steps=20, steps_per_execution=10, log_every=10, eval_every=20,
                  checkpoint_every=10, fid_samples=100, is_splits=2, verbose=0,
                  inception_weights="digits", mixed_precision=policy, jit_compile=False,
                  model_dir=str(tmp_path / "run"))
    result = experiment.run(config.from_flat(values), export_model=False, log=lambda *_: None)
    final = result["metrics"]
    assert np.isfinite(final["train_d_loss"]) and np.isfinite(final["train_reg"])
    model = builders.build_model(config.from_flat(values))
    compute = {layer.dtype_policy.compute_dtype for layer in model.discriminator.layers
               if layer.weights}
    assert compute == {policy.split("_")[1]}
    assert all(v.dtype == "float32" for v in model.discriminator.weights)
    assert keras.mixed_precision.dtype_policy().name == "float32"  # not left set globally
    if policy == "mixed_float16":
        assert isinstance(model.d_optimizer, keras.optimizers.LossScaleOptimizer)
    # resume with the loss-scale state in the checkpoint
    more = experiment.run(config.from_flat(dict(values, train_steps=30)), export_model=False,
                          log=lambda *_: None)
    assert more["resumed_from"] == 20 and more["step"] == 30


# ---------------------------------------------------------------- SDKL models
# Tiny nets on 16x16 digits, eager steps: tracing five train steps would cost more
# than running them.
SDKL_NAMES = ["gan", "vae", "vaegan", "sdkl", "sdkl_nosample"]
SDKL_SMALL = dict(resolution=16, channels=1, latent_dim=4, base_width=2, fc_units=8,
                  batch_size=8, sigma=1.0, ortho_weight=1e-3, d_steps=1, seed=3)


@pytest.fixture(scope="module")
def digits16():
    from far_keras.data.images import load_digits_arrays
    return tf.constant(load_digits_arrays(16)[0][:8])


def sdkl_model(name, policy, init_seed=0, loss_scaling=None):
    """An SDKL-family model built under ``policy``, with Adam (loss-scaled for float16)."""
    from far_keras.models import sdkl
    keras.utils.set_random_seed(init_seed)
    with builders.precision_policy(policy):
        model = sdkl.build_sdkl_model(name, **SDKL_SMALL)
    scaled = policy == "mixed_float16" if loss_scaling is None else loss_scaling
    opts = [keras.optimizers.Adam(1e-3, beta_1=0.5) for _ in range(2)]
    if scaled:
        opts = [keras.optimizers.LossScaleOptimizer(o) for o in opts]
    model.compile(*opts, run_eagerly=True)
    return model


def sdkl_networks(model):
    return [n for n in (model.encoder, model.decoder, model.discriminator) if n is not None]


def test_every_sdkl_model_trains_in_bfloat16(digits16):
    for name in SDKL_NAMES:  # one test: the module import and data load are paid once
        model = sdkl_model(name, "mixed_bfloat16")
        for net in sdkl_networks(model):
            compute = {layer.dtype_policy.compute_dtype for layer in
                       net._flatten_layers(include_self=False) if layer.weights}
            assert compute == {"bfloat16"}, (name, net.name, compute)
            assert all(v.dtype == "float32" for v in net.weights), (name, net.name)
        before = [np.array(v) for v in model.decoder.trainable_variables]
        logs = model.train_step(digits16)
        assert model.current_step() == 1
        for key, value in logs.items():
            # every logged loss is a float32, finite number (none silently half)
            assert value.dtype == tf.float32 and np.isfinite(value.numpy()), (name, key)
        # the decoder did train (no silently skipped update)
        assert any(not np.array_equal(b, np.array(v))
                   for b, v in zip(before, model.decoder.trainable_variables)), name
        assert model.sample(tf.zeros([2, 4])).dtype == tf.float32
    assert keras.mixed_precision.dtype_policy().name == "float32"  # not left set globally


def _loss_scales(model):
    return [float(model.d_optimizer.dynamic_scale.numpy()),
            float(model.g_optimizer.dynamic_scale.numpy())]


def test_sdkl_trains_and_resumes_in_float16_with_its_loss_scales(digits16, tmp_path):
    batches = [tf.roll(digits16, i, axis=0) for i in range(4)]
    whole = sdkl_model("sdkl", "mixed_float16")
    assert isinstance(whole.g_optimizer, keras.optimizers.LossScaleOptimizer)
    for x in batches[:2]:
        whole.train_step(x)
    path = tf.train.Checkpoint(**whole.checkpoint_objects()).write(str(tmp_path / "ckpt"))
    saved_scales = _loss_scales(whole)
    # The h2 NLL (a sum over the h2 map) times the initial scale 2^15 overflows
    # float16 gradients: the generator's scale has come down, so restoring the
    # initial value instead would be seen below.
    assert saved_scales[1] < 2.0 ** 15
    for x in batches[2:]:
        whole.train_step(x)  # the same run, not interrupted

    resumed = sdkl_model("sdkl", "mixed_float16", init_seed=1)  # other initial weights
    tf.train.Checkpoint(**resumed.checkpoint_objects()).read(path).assert_consumed()
    assert _loss_scales(resumed) == saved_scales and resumed.current_step() == 2
    for x in batches[2:]:
        logs = resumed.train_step(x)
    assert all(np.isfinite(v.numpy()) for v in logs.values())
    assert _loss_scales(resumed) == _loss_scales(whole)
    for a, b in zip(resumed.generator_variables + resumed.discriminator.weights,
                    whole.generator_variables + whole.discriminator.weights):
        np.testing.assert_array_equal(np.array(a), np.array(b))


def test_sdkl_step_with_non_finite_gradients_is_skipped_but_counted(digits16):
    model = sdkl_model("vaegan", "mixed_float16")  # the model with two generator-side losses
    # A loss scale that overflows float32 makes every scaled gradient non-finite.
    for opt in (model.d_optimizer, model.g_optimizer):
        opt.dynamic_scale.assign(2.0 ** 126)
    weights = [np.array(v) for v in model.generator_variables + model.discriminator.weights]
    iterations = [int(o.inner_optimizer.iterations) for o in (model.d_optimizer,
                                                              model.g_optimizer)]
    logs = model.train_step(digits16)
    assert model.current_step() == 1  # the step counts (data and draws move on) ...
    for a, b in zip(weights, model.generator_variables + model.discriminator.weights):
        np.testing.assert_array_equal(a, np.array(b))  # ... but changed no weight
    assert [int(o.inner_optimizer.iterations) for o in (model.d_optimizer,
                                                        model.g_optimizer)] == iterations
    assert _loss_scales(model) == [2.0 ** 125, 2.0 ** 125]  # halved
    # the logged losses are the unscaled ones
    assert np.isfinite(logs["g_loss"].numpy()) and np.isfinite(logs["d_loss"].numpy())


def _negative_elbo_float64(model, real, stream):
    """−ELBO of eq. (5) from the networks' outputs, in NumPy float64 (no TFP): the
    same single-sample estimate the model computes, with its counter-based ε."""
    from far_keras.models import sdkl
    mean, log_scale = [np.float64(t) for t in model.encoder(real, training=True)]
    z = model._posterior_sample(tf.constant(mean, tf.float32),
                                tf.constant(log_scale, tf.float32), stream)
    h2_rec = np.float64(model.features(model.decoder(z, training=True), training=True))
    h2_real = np.float64(model.features(real, training=True))
    s = model.sigma
    nll = (0.5 * ((h2_real - h2_rec) / s) ** 2 + np.log(s) + 0.5 * np.log(2 * np.pi))
    nll = nll.reshape(len(mean), -1).sum(1).mean()
    kl = 0.5 * (mean ** 2 + np.exp(2 * log_scale) - 1 - 2 * log_scale).sum(1).mean()
    assert stream == sdkl._G_POSTERIOR
    return nll, kl


def test_sdkl_loss_pieces_are_float32_and_match_the_float32_model(digits16):
    # float16 (the finer half type; bfloat16's training is covered above)
    from far_keras.models import sdkl
    policy, rtol = "mixed_float16", 2e-3
    half = sdkl_model("sdkl", policy)
    full = sdkl_model("sdkl", "float32", loss_scaling=False)
    for a, b in zip(sdkl_networks(half), sdkl_networks(full)):
        b.set_weights(a.get_weights())  # same weights (and the same step, draws, data)
    got, want = half.generator_losses(digits16), full.generator_losses(digits16)
    for key in ("neg_elbo", "recon_nll", "kl", "adv", "fake_logits"):
        assert got[key].dtype == tf.float32, key
        # half-precision networks: agreement to their rounding, not bitwise
        np.testing.assert_allclose(got[key].numpy(), want[key].numpy(), rtol=rtol,
                                   atol=rtol * 10 if key == "fake_logits" or key == "adv"
                                   else rtol * 1e-2, err_msg=key)
    fakes = half.discriminator_fakes(digits16, 0)
    d_half = half.discriminator_losses(digits16, fakes, 0)
    d_full = full.discriminator_losses(digits16, full.discriminator_fakes(digits16, 0), 0)
    assert d_half["d_loss"].dtype == tf.float32
    np.testing.assert_allclose(d_half["d_loss"].numpy(), d_full["d_loss"].numpy(), rtol=rtol)
    # Independently of TFP and of the float32 model: the half model's −ELBO pieces are
    # the float64 formulas applied to its (float32-cast) network outputs, to float32
    # rounding; a log-density or KL computed in the half type would be off by ~1e-3.
    nll, kl = _negative_elbo_float64(half, digits16, sdkl._G_POSTERIOR)
    np.testing.assert_allclose(got["recon_nll"].numpy(), nll, rtol=1e-5)
    np.testing.assert_allclose(got["kl"].numpy(), kl, rtol=1e-4, atol=1e-7)


def test_config_accepts_mixed_precision_for_sdkl_and_builds_loss_scaled_optimizers():
    # (it used to raise ConfigError: "implemented for --model=far_gan only")
    cfg = config.from_flat(dict(model="sdkl", dataset="digits", base_width=2, fc_units=8,
                                latent_dim=4, batch_size=8, mixed_precision="mixed_float16",
                                jit_compile=False, steps_per_execution=1))
    model = builders.build_model(cfg)
    assert isinstance(model.d_optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(model.g_optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.decoder.get_layer("fc1").dtype_policy.compute_dtype == "float16"
