"""The five SDKL-family models (far_keras/models/sdkl.py): where the noise at h2 is,
that generator-side updates never move D, that each model learns a toy digit set,
export without far_keras, and exact resume."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from far_keras.data.images import load_digits_arrays
from far_keras.models import sdkl as sdkl_models
from far_keras.models.families import SDKL_MODELS
from far_keras.objectives import elbo, gan_losses

NAMES = list(SDKL_MODELS)
NOISY = {"vae", "sdkl"}
SMALL = dict(resolution=16, channels=1, latent_dim=8, base_width=8, fc_units=32)
B = 16


@pytest.fixture(scope="module")
def digits():
    return load_digits_arrays(16)[0][:64]


def make(name, init_seed=0, jit_compile=False, lr=5e-4, run_eagerly=False, **overrides):
    keras.utils.set_random_seed(init_seed)
    kwargs = dict(SMALL, sigma=1.0, ortho_weight=1e-3, d_steps=1, batch_size=B, seed=7)
    kwargs.update(overrides)
    model = sdkl_models.build_sdkl_model(name, **kwargs)
    model.compile(keras.optimizers.Adam(lr, beta_1=0.5), keras.optimizers.Adam(lr, beta_1=0.5),
                  jit_compile=jit_compile, run_eagerly=run_eagerly)
    return model


def values(variables):
    return [np.array(v) for v in variables]


def test_registry_and_builder():
    assert sorted(sdkl_models.MODELS) == sorted(NAMES)
    gan = make("gan")
    assert gan.encoder is None and gan.generator_variables == gan.decoder.trainable_variables
    assert set(gan.metric_names()) == {"d_loss", "ortho", "d_real", "d_fake", "g_loss", "adv"}
    vaegan = make("vaegan")
    assert {"recon_nll", "kl", "neg_elbo", "adv", "d_rec"} <= set(vaegan.metric_names())
    assert "adv" not in make("vae").metric_names()  # the VAE never tries to fool D
    assert isinstance(sdkl_models.build_sdkl_model("sdkl_nosample", **SMALL),
                      sdkl_models.SDKLNoSampleModel)
    with pytest.raises(ValueError, match="unknown"):
        sdkl_models.build_sdkl_model("wgan", **SMALL)
    m = make("sdkl")
    x = tf.zeros([3, 16, 16, 1])
    mean, scale = m.encode(x)
    assert mean.shape == scale.shape == (3, 8) and np.all(scale.numpy() > 0)
    assert m.reconstruct(x).shape == (3, 16, 16, 1)
    np.testing.assert_allclose(m.reconstruct(x), m.sample(mean), atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_noise_at_h2_only_where_the_model_samples(name, digits):
    model = make(name)
    real = tf.constant(digits[:B])

    def fake_logits(sigma):
        model.sigma = sigma
        gen = model.generator_losses(real)["fake_logits"]
        fakes = model.discriminator_fakes(real, 0)
        disc = model.discriminator_losses(real, fakes, 0)["fake_logits"]
        return gen, disc

    gen1, disc1 = fake_logits(1.0)
    gen2, disc2 = fake_logits(0.5)
    gen0, disc0 = fake_logits(1e-7)
    # What D0 gives on the noiseless generated images, with the same latents.
    z_gen = model._prior_latents(sdkl_models._G_PRIOR)
    z_disc = model._prior_latents(sdkl_models._D_PRIOR, 0)
    clean_gen = model.discriminator(model.decoder(z_gen))
    clean_disc = model.discriminator(model.decoder(z_disc))
    if name == "vae":
        assert gen1 is None  # −ELBO only: no adversarial term on the generator side
    else:
        np.testing.assert_allclose(gen0, clean_gen, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(disc0, clean_disc, rtol=1e-4, atol=1e-5)
    if name in NOISY:
        assert np.max(np.abs(disc1 - disc2)) > 1e-3
        assert np.max(np.abs(disc1 - clean_disc)) > 1e-3
        if gen1 is not None:
            assert np.max(np.abs(gen1 - gen2)) > 1e-3
            assert np.max(np.abs(gen1 - clean_gen)) > 1e-3
    else:
        np.testing.assert_array_equal(disc1, disc2)
        np.testing.assert_allclose(disc1, clean_disc, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(gen1, gen2)
        np.testing.assert_allclose(gen1, clean_gen, rtol=1e-5, atol=1e-6)
    # Real data always enters D without noise.
    model.sigma = 1.0
    np.testing.assert_allclose(model.discriminator_losses(real, model.discriminator_fakes(real, 0))
                               ["real_logits"], model.discriminator(real), rtol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_generator_step_leaves_discriminator_alone(name, digits):
    model = make(name, lr=1e-2)
    real = tf.constant(digits[:B])
    d_before = values(model.discriminator.weights)
    g_before = values(model.generator_variables)
    model.generator_step(real)
    for a, b in zip(d_before, values(model.discriminator.weights)):
        np.testing.assert_array_equal(a, b)
    g_after = values(model.generator_variables)
    moved = [not np.array_equal(a, b) for a, b in zip(g_before, g_after)]
    assert all(moved[-4:]), "decoder not updated"  # its last layers, incl. the output conv
    if model.has_encoder:
        n_enc = len(model.encoder.trainable_variables)
        assert any(moved[:n_enc]), "encoder not updated"
    assert int(model.g_optimizer.iterations) == 1 and int(model.d_optimizer.iterations) == 0
    # And the D step moves D only.
    model.discriminator_step(real)
    for a, b in zip(g_after, values(model.generator_variables)):
        np.testing.assert_array_equal(a, b)
    assert int(model.d_optimizer.iterations) == 1


def test_vaegan_encoder_update_is_the_elbo_gradient_only(digits):
    """Larsen et al.: the encoder's update is −ELBO's gradient, no adversarial term."""
    keras.utils.set_random_seed(0)
    model = sdkl_models.build_sdkl_model("vaegan", batch_size=B, seed=7, **SMALL)
    model.compile(keras.optimizers.SGD(1.0), keras.optimizers.SGD(1.0))
    real = tf.constant(digits[:B])
    enc = model.encoder.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        neg, _ = model.negative_elbo(real)  # the same draws as the step's (same step)
        adv = model.generator_losses(real)["adv"]
    expected = tape.gradient(neg.loss, enc)
    # The adversarial term does reach the encoder (reconstructions come from
    # q(z|x)), so a joint gradient would differ.
    assert any(np.any(g.numpy() != 0) for g in tape.gradient(adv, enc) if g is not None)
    before = values(enc)
    model.generator_step(real)
    for b, a, g in zip(before, values(enc), expected):
        np.testing.assert_allclose(b - a, g, rtol=1e-4, atol=1e-6)


def _nearest_distance(samples, data):
    d = np.mean((samples.reshape(len(samples), 1, -1) - data.reshape(1, len(data), -1)) ** 2, -1)
    return d.min(axis=1).mean()


def _recon_nll(model, real, decoder_weights, encoder_weights):
    """Mean h2 reconstruction NLL of (encoder, decoder) weights under the current D."""
    model.encoder.set_weights(encoder_weights)
    model.decoder.set_weights(decoder_weights)
    mean, log_scale = model.encoder(real)
    z = mean + tf.exp(log_scale) * tf.random.stateless_normal(tf.shape(mean), [1, 2])
    h2_rec = model.features(model.decoder(z))
    return float(tf.reduce_mean(elbo.reconstruction_nll(
        elbo.observation_model(h2_rec, model.sigma), model.features(real))))


@pytest.mark.parametrize("name", NAMES)
def test_each_model_learns_toy_digits(name, digits):
    model = make(name, init_seed=1)
    data = tf.data.Dataset.from_tensor_slices(digits).shuffle(64, seed=0).repeat().batch(
        B, drop_remainder=True)
    real = tf.constant(digits)
    z = tf.random.stateless_normal([64, SMALL["latent_dim"]], [3, 4])
    samples0 = model.sample(z).numpy()
    dec0 = model.decoder.get_weights()
    enc0 = model.encoder.get_weights() if model.has_encoder else None
    mse0 = float(np.mean((model.reconstruct(real) - digits) ** 2)) if enc0 else None
    history = model.fit(data, epochs=4, steps_per_epoch=30, verbose=0).history
    assert model.current_step() == 120
    for key, series in history.items():
        assert np.all(np.isfinite(series)), key
    if name == "gan":
        samples1 = model.sample(z).numpy()
        # Samples moved towards the data, and the trained D is fooled more by them
        # than by the initial generator's samples.
        assert _nearest_distance(samples1, digits) < 0.8 * _nearest_distance(samples0, digits)
        d = model.discriminator
        assert (float(gan_losses.generator_loss(d(samples1)))
                < float(gan_losses.generator_loss(d(samples0))))
        return
    mse1 = float(np.mean((model.reconstruct(real) - digits) ** 2))
    assert mse1 < 0.6 * mse0
    # The logged h2 NLL falls over training, and (D held at its final weights, so
    # both are measured with the same features) the trained encoder/decoder
    # reconstruct better than the initial ones.
    assert history["recon_nll"][-1] < history["recon_nll"][0]
    dec1, enc1 = model.decoder.get_weights(), model.encoder.get_weights()
    assert _recon_nll(model, real, dec1, enc1) < _recon_nll(model, real, dec0, enc0)


def _batches(digits, steps, d_steps):
    idx = np.random.default_rng(0).integers(0, len(digits), size=(steps, d_steps * B))
    return digits[idx]


def _state(model):
    return values(model.discriminator.weights + model.decoder.weights
                  + (model.encoder.weights if model.has_encoder else [])
                  + model.g_optimizer.variables + model.d_optimizer.variables)


@pytest.mark.parametrize("name, d_steps", [("sdkl", 2), ("vaegan", 1)])
def test_resume_equals_uninterrupted_run(name, d_steps, digits, tmp_path):
    """2N steps in one go == N steps, checkpoint, restore into a fresh model, N steps."""
    n = 3
    batches = _batches(digits, 2 * n, d_steps)

    def fit(model, part):
        model.fit(tf.data.Dataset.from_tensor_slices(part), epochs=1, steps_per_epoch=len(part),
                  verbose=0)

    # Eager steps: what is checked is the state a checkpoint carries, and tracing the
    # two models' train functions cost twice the nine steps run eagerly.
    whole = make(name, d_steps=d_steps, run_eagerly=True)
    fit(whole, batches[:n])
    path = tf.train.Checkpoint(**whole.checkpoint_objects()).write(str(tmp_path / "ckpt"))
    fit(whole, batches[n:])  # the same run, not interrupted
    assert whole.current_step() == 2 * n and int(whole.d_optimizer.iterations) == 2 * n * d_steps

    resumed = make(name, init_seed=99, d_steps=d_steps,  # other initial weights
                   run_eagerly=True)
    tf.train.Checkpoint(**resumed.checkpoint_objects()).read(path).assert_consumed()
    assert resumed.current_step() == n
    fit(resumed, batches[n:])
    for a, b in zip(_state(whole), _state(resumed)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_jit_compiled_model_trains(digits):
    model = make("sdkl", jit_compile=True, d_steps=2)
    batches = _batches(digits, 3, 2)
    before = values(model.generator_variables)
    logs = model.fit(tf.data.Dataset.from_tensor_slices(batches), epochs=1, steps_per_epoch=3,
                     verbose=0).history
    assert model.current_step() == 3 and int(model.d_optimizer.iterations) == 6
    assert all(np.isfinite(v[-1]) for v in logs.values())
    assert any(not np.array_equal(a, b) for a, b in zip(before, values(model.generator_variables)))


_LOADER = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf
    ref = np.load(sys.argv[1])
    for name in ("sdkl", "gan"):
        m = tf.saved_model.load(sys.argv[2] + "/" + name)
        z = tf.constant(ref["z"])
        for fn in (m.generate, m.signatures["serving_default"]):
            np.testing.assert_allclose(fn(z=z)["samples"], ref[name + "_images"], atol=1e-5)
        if name == "sdkl":
            out = m.encode(x=tf.constant(ref["x"]))
            np.testing.assert_allclose(out["mean"], ref["mean"], atol=1e-5)
            np.testing.assert_allclose(out["scale"], ref["scale"], atol=1e-5)
        else:
            assert not hasattr(m, "encode")
    assert "far_keras" not in sys.modules
    print("LOADED-OK")
""")


def test_export_loads_with_tensorflow_alone(digits, tmp_path):
    ref = {"z": np.random.default_rng(1).normal(size=(5, 8)).astype(np.float32),
           "x": digits[:4]}
    for name in ("sdkl", "gan"):
        model = make(name)
        model.export(str(tmp_path / name))
        ref[name + "_images"] = model.sample(ref["z"]).numpy()
        if name == "sdkl":
            mean, scale = model.encode(ref["x"])
            ref["mean"], ref["scale"] = mean.numpy(), scale.numpy()
    np.savez(tmp_path / "ref.npz", **ref)
    (tmp_path / "load.py").write_text(_LOADER)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    result = subprocess.run([sys.executable, "load.py", "ref.npz", "."], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "LOADED-OK" in result.stdout


def test_batches_of_another_size_are_an_error_naming_both_numbers(digits):
    # d_steps minibatches of B per training step: real_batch_size = d_steps × B.
    model = make("vae", d_steps=2, run_eagerly=True)
    assert model.real_batch_size == 2 * B
    data = tf.data.Dataset.from_tensor_slices(digits).batch(B, drop_remainder=True)
    with pytest.raises(ValueError, match=rf"VAEModel got a batch of {B} real rows; it takes "
                       rf"{2 * B} per training step: d_steps = 2 discriminator steps × "
                       rf"B = batch_size = {B} real rows"):
        model.fit(data, verbose=0)
    with pytest.raises(ValueError, match=rf"fit\(x, batch_size={2 * B}\)"):
        model.fit(digits, batch_size=B, verbose=0)
    assert model.current_step() == 0
    model.fit(digits[:2 * B], batch_size=2 * B, verbose=0)
    assert model.current_step() == 1
