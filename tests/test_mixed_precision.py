"""--mixed_precision: float16/bfloat16 compute, float32 weights, losses and penalty."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from far_keras import config, experiment
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
    model = experiment.build_model(config.from_flat(values))
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
