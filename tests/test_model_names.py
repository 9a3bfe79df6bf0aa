"""One spelling per model name (far_keras/models/names.py): config, compare.py and the
SDKL registry use the same list; the old spelling "sdkl_no_sampling" of SDKL
without sampling is accepted by --model only, with a warning."""

import os
import subprocess
import sys

import pytest

import compare
from far_keras import config
from far_keras.models import names

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_list_of_model_names_is_the_one_list():
    assert config.MODELS == (names.FAR_GAN,) + names.SDKL_MODELS
    assert [v for v in compare.VARIANTS if v in names.SDKL_MODELS] == list(names.SDKL_MODELS)
    assert all(compare.VARIANTS[m] == [f"--model={m}"] for m in names.SDKL_MODELS)
    assert set(names.SDKL_MODELS) <= set(compare.LABELS)
    from far_keras.models import sdkl
    assert sorted(sdkl.MODELS) == sorted(names.SDKL_MODELS)


def test_the_library_takes_only_the_canonical_spelling():
    with pytest.raises(config.ConfigError, match="--model=sdkl_no_sampling: must be one of"):
        config.from_flat(dict(model="sdkl_no_sampling", dataset="digits"))
    from far_keras.models import sdkl
    with pytest.raises(ValueError, match="unknown SDKL-family model 'sdkl_no_sampling'"):
        sdkl.build_sdkl_model("sdkl_no_sampling", resolution=16, channels=1)
    assert names.resolve_deprecated_model("sdkl_nosample") == ("sdkl_nosample", None)
    assert names.resolve_deprecated_model("sdkl_no_sampling") == (
        "sdkl_nosample", "--model=sdkl_no_sampling is deprecated; use --model=sdkl_nosample")


def test_train_py_accepts_the_old_spelling_with_a_warning():
    # absl accepts the flag; the config then sees the canonical name, whose own check
    # (SDKL models need image data) ends the run before TensorFlow is loaded.
    out = subprocess.run(
        [sys.executable, "train.py", "--model=sdkl_no_sampling", "--dataset=ring8"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "WARNING: --model=sdkl_no_sampling is deprecated; use --model=sdkl_nosample" in out.stderr
    assert "--model=sdkl_nosample: needs image data" in out.stderr, out.stderr
    assert out.returncode == 1
