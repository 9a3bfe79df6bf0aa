"""models/base.py: replica bookkeeping outside a strategy and the counter-based seed
(same step → same draw, so a resumed run redraws exactly; next step → a new draw)."""

import keras
import numpy as np
import tensorflow as tf

from far_keras.models.base import local_slice, replica_info
from far_keras.models.gan import FARGAN


def test_replica_info_and_local_slice_outside_a_strategy():
    assert replica_info() == (0, 1)
    x = tf.reshape(tf.range(12), [6, 2])
    np.testing.assert_array_equal(local_slice(x, 6).numpy(), x.numpy())


def test_local_slice_gives_each_replica_its_share():
    # Two logical CPUs are not guaranteed in this process; a strategy over the one
    # CPU device still runs strategy.run in a replica context (R = 1: the whole batch).
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    x = tf.reshape(tf.range(8.0), [4, 2])
    out = strategy.run(lambda: (local_slice(x, 4), tf.constant(replica_info()[1])))
    np.testing.assert_array_equal(strategy.experimental_local_results(out[0])[0], x.numpy())
    assert int(strategy.experimental_local_results(out[1])[0]) == 1


def _model(seed=5):
    g = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    d = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model = FARGAN(g, d, latent_dim=2, batch_size=4, num_far=0, seed=seed)
    model.compile(keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1))
    return model


def _draw(model, *stream):
    return model._normal(6, [2], model._seed(*stream)).numpy()


def test_counter_based_seed_same_step_same_draw_next_step_new_draw():
    model = _model()
    first = _draw(model, 0)
    np.testing.assert_array_equal(_draw(model, 0), first)      # no hidden generator state
    assert not np.allclose(_draw(model, 1), first)               # another stream
    assert not np.allclose(_draw(_model(seed=6), 0), first)      # another --seed
    model.train_counter.assign_add(1)
    second = _draw(model, 0)
    assert not np.allclose(second, first)                        # the next step
    # A fresh model (a resumed run) at the same step draws exactly the same.
    resumed = _model()
    resumed.train_counter.assign(1)
    np.testing.assert_array_equal(_draw(resumed, 0), second)
    assert model.current_step() == 1
    # The draw is N(0, I)-like: a weak check that it is not, e.g., all zeros.
    assert np.std(np.concatenate([_draw(model, s) for s in range(50)])) > 0.7
