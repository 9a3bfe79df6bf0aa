"""The MLPs' initialisations: Keras's Glorot and torch.nn.Linear's default."""

import keras
import numpy as np
import pytest

from far_keras.nets import mlp


def test_pytorch_init_is_uniform_within_one_over_sqrt_fan_in_for_weights_and_biases():
    keras.utils.set_random_seed(0)
    d = mlp.mlp_discriminator(2, hidden_units=64, init="pytorch")
    dense = [l for l in d.layers if isinstance(l, keras.layers.Dense)]
    for layer in dense:
        w, b = layer.get_weights()
        bound = 1 / np.sqrt(w.shape[0])
        assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
        # uniform on (-bound, bound): the weights fill it (std = bound / √3)
        assert np.abs(w).max() > 0.9 * bound
        assert w.std() == pytest.approx(bound / np.sqrt(3), rel=0.15)
        assert np.abs(b).max() > 0  # biases are drawn too, unlike Glorot's zeros


def test_glorot_init_has_zero_biases():
    keras.utils.set_random_seed(0)
    g = mlp.mlp_generator(2, 2, hidden_units=16, init="glorot")
    for layer in g.layers:
        assert not np.any(layer.get_weights()[1])


def test_unknown_init_is_an_error():
    with pytest.raises(ValueError, match="init must be one of"):
        mlp.mlp_generator(2, 2, init="he")
