"""Orthogonal regularisation of weight matrices (Brock et al. 2016, "Neural photo
editing with introspective adversarial networks"), as used on the SDKL
discriminator (Berger & Sebag, sec. 4.2: it keeps every layer's activations of the
same order of magnitude and each layer K-Lipschitz with a small K).

    R(W_1, ..., W_L) = Σ_l ‖W_lᵀ W_l − I‖²_F          (``norm="frobenius"``)

Orientation. A kernel is flattened to a matrix W of shape [fan_in, out] with the
*last* axis kept: a Keras ``Conv2D`` kernel [k, k, in, out] becomes [k·k·in, out],
a ``Dense`` kernel [in, out] stays as it is. Wᵀ W is then the [out, out] Gram matrix
of the filters (each column of W is one output unit's filter over its receptive
field), and R = 0 says the filters are orthonormal: each output unit sees a
unit-norm, decorrelated projection of its input patch, which is what keeps the
activation scale constant from layer to layer. Brock et al. penalise W Wᵀ for a
filter bank W; with one row per filter (the Theano/PyTorch layout [out, in·k·k])
that is this same [out, out] matrix, as is BigGAN's ``‖WᵀW − I‖²_F`` on PyTorch
weights. It is also the matrix Keras' ``Orthogonal`` initialiser makes orthogonal
(it flattens all axes but the last), so an orthogonally initialised layer starts
at the minimum.

When out > fan_in (e.g. a first conv layer 4x4x3 → 64: 48 < 64) Wᵀ W has rank at
most fan_in and cannot be I; R then has a positive floor of (out − fan_in), reached
when the fan_in non-zero singular values are all 1. The floor shifts the logged
value, not the gradient (which is zero there).

For a ``Conv2DTranspose`` kernel ([k, k, out, in] in Keras) the kept last axis is
the layer's *input* channels; the SDKL discriminator has none.

Brock et al. (2016) wrote the penalty as Σ |W Wᵀ − I| (an elementwise L1 sum);
BigGAN (Brock et al. 2018) and the SDKL notes use the squared Frobenius norm.
``norm="l1"`` gives the 2016 form; the default is the squared Frobenius norm.
"""

import keras
import tensorflow as tf

NORMS = ("frobenius", "l1")


def kernel_matrix(kernel):
    """Flattens a kernel to [prod(shape[:-1]), shape[-1]] (see module docstring)."""
    kernel = tf.convert_to_tensor(kernel)
    return tf.reshape(kernel, [-1, tf.shape(kernel)[-1]])


def orthogonal_penalty(kernel, norm="frobenius"):
    """‖WᵀW − I‖²_F (or Σ|WᵀW − I| for ``norm="l1"``) for one kernel, a scalar."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    w = kernel_matrix(kernel)
    gram = tf.matmul(w, w, transpose_a=True)
    residual = gram - tf.eye(tf.shape(gram)[0], dtype=gram.dtype)
    if norm == "frobenius":
        return tf.reduce_sum(tf.square(residual))
    return tf.reduce_sum(tf.abs(residual))


def orthogonal_regularizer(kernels, norm="frobenius"):
    """R = Σ_l ‖W_lᵀ W_l − I‖²_F over a list of kernels (Brock et al. 2016).

    Args:
      kernels: iterable of kernel tensors or variables (conv [k, k, in, out], dense
        [in, out]), e.g. ``model_kernels(discriminator)``.
      norm: "frobenius" (squared Frobenius norm, default) or "l1" (see module
        docstring).

    Returns:
      Scalar tensor, unweighted; the model multiplies it by its coefficient.
    """
    penalties = [orthogonal_penalty(k, norm) for k in kernels]
    if not penalties:
        raise ValueError("orthogonal_regularizer needs at least one kernel")
    return tf.add_n(penalties)


def model_kernels(model):
    """The conv, transposed-conv and dense kernels of ``model``, nested models
    included, in layer order: the weight matrices the regulariser acts on ("applied
    to all weights", Brock et al.). Biases are not weight matrices and are left out.
    A layer shared by two nested models is listed once."""
    found, seen = [], set()

    def visit(layer):
        if id(layer) in seen:
            return
        seen.add(id(layer))
        if isinstance(layer, keras.Model):
            for sub in layer.layers:
                visit(sub)
        elif isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D,
                                keras.layers.Conv3D, keras.layers.Conv2DTranspose,
                                keras.layers.Dense)):
            found.append(layer.kernel)

    visit(model)
    return found
