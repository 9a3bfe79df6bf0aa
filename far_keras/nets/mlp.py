"""The synthetic-data MLPs of the FAR-GAN paper (Tables 3 and 4).

Both are in → 64 → 64 → 64 → out with ReLU (after Thanh-Tung et al. 2019). The
discriminator returns the logit D0 (no sigmoid): losses and penalties act on D0.
"""

import math

import keras

INITS = ("glorot", "pytorch")


def _initializers(init, fan_in):
    """(kernel, bias) initializers of one Dense layer.

    ``pytorch`` is torch.nn.Linear's default (kaiming_uniform with a = √5, i.e.
    U(±1/√fan_in), and the bias from the same range), which the synthetic reference
    code keeps (its ``weights_init`` is never applied to the GAN's nets).
    VarianceScaling(1/3, fan_in, uniform) is U(±√(3·(1/3)/fan_in)) = U(±1/√fan_in).
    """
    if init == "glorot":
        return "glorot_uniform", "zeros"
    if init == "pytorch":
        bound = 1.0 / math.sqrt(fan_in)
        return (keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform"),
                keras.initializers.RandomUniform(-bound, bound))
    raise ValueError(f"init must be one of {INITS}, got {init!r}")


def mlp(input_dim, output_dim, hidden_units=64, hidden_layers=3, name=None, init="glorot"):
    layers = [keras.Input((input_dim,))]
    fan_in = input_dim
    for i in range(hidden_layers):
        kernel, bias = _initializers(init, fan_in)
        layers.append(keras.layers.Dense(hidden_units, activation="relu", name=f"fc{i + 1}",
                                         kernel_initializer=kernel, bias_initializer=bias))
        fan_in = hidden_units
    kernel, bias = _initializers(init, fan_in)
    layers.append(keras.layers.Dense(output_dim, name="out", kernel_initializer=kernel,
                                     bias_initializer=bias))
    return keras.Sequential(layers, name=name)


def mlp_generator(latent_dim=2, data_dim=2, hidden_units=64, hidden_layers=3, init="glorot"):
    """G: z ∈ R^latent_dim → x ∈ R^data_dim (Table 3)."""
    return mlp(latent_dim, data_dim, hidden_units, hidden_layers, name="generator", init=init)


def mlp_discriminator(data_dim=2, hidden_units=64, hidden_layers=3, init="glorot"):
    """D0: x ∈ R^data_dim → logit (Table 4)."""
    return mlp(data_dim, 1, hidden_units, hidden_layers, name="discriminator", init=init)
