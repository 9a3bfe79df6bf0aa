"""The public API (far_keras/__init__.py): ``from far_keras import FARGAN, ...`` gives
the models, networks, FAR selection, penalties, losses and metrics, loaded on first
use so that ``import far_keras`` alone loads no TensorFlow; the docstring examples
run as written."""

import doctest
import importlib
import os
import subprocess
import sys

import pytest

import far_keras

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# What the API promises (issue 19): the FAR-GAN model and the SDKL paper's five, the
# penalties, FAR's selection and the metrics. Dropping one must fail here.
PROMISED = {
    "FARGAN", "GANModel", "VAEModel", "VAEGANModel", "SDKLModel", "SDKLNoSampleModel",
    "build_sdkl_model", "far_select", "far_real_batch", "squared_gradient_norm",
    "real_side_regularizer", "interpolation_regularizer", "interpolation_gradient_penalty",
    "mode_metrics", "frechet_distance", "fid_from_features", "inception_score",
    "kernel_inception_distance", "precision_recall_density_coverage",
}


def test_import_far_keras_loads_no_tensorflow():
    # A fresh interpreter: this one has TensorFlow loaded already.
    code = ("import sys, far_keras\n"
            "names = dir(far_keras)\n"
            "assert 'FARGAN' in names and 'mode_metrics' in names, names\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'keras', 'tensorflow_probability', 'numpy')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_every_public_name_resolves_to_its_module_object():
    assert PROMISED <= set(far_keras.__all__)
    assert len(set(far_keras.__all__)) == len(far_keras.__all__)
    for name in far_keras.__all__:
        value = getattr(far_keras, name)
        home = importlib.import_module(far_keras._EXPORTS[name])
        assert value is getattr(home, name), name
        assert callable(value), name
    from far_keras import FARGAN, SDKLModel  # noqa: F401  (the spelling users write)
    from far_keras.models import gan, sdkl
    assert FARGAN is gan.FARGAN and SDKLModel is sdkl.SDKLModel
    assert set(far_keras.__all__) <= set(dir(far_keras))


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'FARGan'"):
        far_keras.FARGan  # noqa: B018
    assert not hasattr(far_keras, "train_step")


@pytest.mark.parametrize("module", ["far_keras", "far_keras.models.gan"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS,
                             verbose=False)
    assert result.attempted >= 5 and result.failed == 0, result
