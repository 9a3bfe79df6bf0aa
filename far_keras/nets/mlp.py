"""The synthetic-data MLPs of the FAR-GAN paper (Tables 3 and 4).

Both are in → 64 → 64 → 64 → out with ReLU (after Thanh-Tung et al. 2019). The
discriminator returns the logit D0 (no sigmoid): losses and penalties act on D0.
"""

import keras


def mlp(input_dim, output_dim, hidden_units=64, hidden_layers=3, name=None):
    layers = [keras.Input((input_dim,))]
    for i in range(hidden_layers):
        layers.append(keras.layers.Dense(hidden_units, activation="relu", name=f"fc{i + 1}"))
    layers.append(keras.layers.Dense(output_dim, name="out"))
    return keras.Sequential(layers, name=name)


def mlp_generator(latent_dim=2, data_dim=2, hidden_units=64, hidden_layers=3):
    """G: z ∈ R^latent_dim → x ∈ R^data_dim (Table 3)."""
    return mlp(latent_dim, data_dim, hidden_units, hidden_layers, name="generator")


def mlp_discriminator(data_dim=2, hidden_units=64, hidden_layers=3):
    """D0: x ∈ R^data_dim → logit (Table 4)."""
    return mlp(data_dim, 1, hidden_units, hidden_layers, name="discriminator")
