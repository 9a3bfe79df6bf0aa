import numpy as np
import pytest
import tensorflow as tf

from far_keras.objectives import far


def test_far_select_takes_exactly_the_m0_lowest_scored():
    rng = np.random.RandomState(0)
    candidates = rng.randn(256, 2).astype(np.float32)
    logits = rng.randn(256).astype(np.float32)
    selected, idx = far.far_select(tf.constant(candidates), tf.constant(logits[:, None]), 16)
    expected = np.argsort(logits)[:16]
    assert sorted(idx.numpy().tolist()) == sorted(expected.tolist())
    np.testing.assert_array_equal(selected.numpy(), candidates[idx.numpy()])
    # every selected logit is <= every unselected one
    rest = np.setdiff1d(np.arange(256), idx.numpy())
    assert logits[idx.numpy()].max() <= logits[rest].min()


def test_far_select_edge_counts():
    c = tf.constant(np.arange(10, dtype=np.float32)[:, None])
    logits = tf.constant(np.arange(10, 0, -1, dtype=np.float32))
    sel, _ = far.far_select(c, logits, 10)
    assert sorted(sel.numpy()[:, 0].tolist()) == list(range(10))
    sel, _ = far.far_select(c, logits, 0)
    assert sel.shape[0] == 0
    with pytest.raises(ValueError, match="num_far"):
        far.far_select(c, logits, 11)


def test_no_gradient_flows_through_selected_samples():
    theta = tf.Variable(1.0)
    with tf.GradientTape() as tape:
        candidates = theta * tf.constant(np.random.randn(8, 2), tf.float32)
        selected, _ = far.far_select(candidates, tf.reduce_sum(candidates, 1), 3)
        loss = tf.reduce_sum(selected)
    assert tape.gradient(loss, theta) is None


def test_far_real_batch_keeps_n0_reals_then_m0_far_rows():
    real = tf.constant(np.full((48, 2), 7.0, np.float32))
    fake = tf.constant(np.full((16, 2), -1.0, np.float32))
    batch = far.far_real_batch(real, fake).numpy()
    assert batch.shape == (64, 2)
    assert (batch[:48] == 7.0).all() and (batch[48:] == -1.0).all()
