"""The model-family seam (far_keras/models/families.py) and the names' homes.

- One spelling per model name: config, compare.py and the SDKL registry use the
  family registry's list; the old spelling "sdkl_no_sampling" is accepted by
  --model only, with a warning.
- Each family builds its model, names its image shape, and the model says which
  network is evaluated and exported.
- Every TF module's registry matches the TF-free list that flags take their choices
  from (datasets, regularisers, penalty targets, strategies, optimizers, presets).
- The layering holds: only models/ imports the family modules; models/ imports
  nothing of training/, evaluation/ or the run's assembly.
"""

import ast
import pathlib
import subprocess
import sys

import pytest

import compare
from far_keras import config
from far_keras.models import families

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "far_keras"


def test_every_list_of_model_names_is_the_one_list():
    field = {f.name: f for f, _ in config.all_fields()}["model"]
    assert field.metadata["choices"] == families.MODELS
    assert families.MODELS == (families.FAR_GAN,) + families.SDKL_MODELS
    assert [v for v in compare.VARIANTS if v in families.SDKL_MODELS] == list(families.SDKL_MODELS)
    assert all(compare.VARIANTS[m] == [f"--model={m}"] for m in families.SDKL_MODELS)
    assert set(families.SDKL_MODELS) <= set(compare.LABELS)
    from far_keras.models import sdkl
    assert sorted(sdkl.MODELS) == sorted(families.SDKL_MODELS)


def test_each_model_name_belongs_to_one_family():
    owners = [f.name for f in families.FAMILIES.values() for _ in f.models]
    assert len(owners) == len(families.MODELS)  # no name in two families
    assert families.family_of("far_gan").name == "far_gan"
    assert {families.family_of(m).name for m in families.SDKL_MODELS} == {"sdkl"}
    with pytest.raises(ValueError, match="--model=wgan: must be one of far_gan, gan"):
        families.family_of("wgan")


def test_the_family_resolves_what_the_flags_leave_open():
    far = config.from_flat(dict(dataset="ring8"))
    assert (far.family.name, far.architecture, far.latent_dim, far.run_name) == (
        "far_gan", "mlp", 2, "ring8_real_logit0.625_far16of256_seed0")
    cifar = config.from_flat(dict(dataset="cifar10", num_far=0, seed=3))
    assert (cifar.architecture, cifar.latent_dim, cifar.run_name) == (
        "cifar", 128, "cifar10_real_logit0.625_nofar_seed3")
    sdkl = config.from_flat(dict(dataset="celeb_a", model="vae"))
    assert (sdkl.family.name, sdkl.architecture, sdkl.latent_dim, sdkl.run_name) == (
        "sdkl", "sdkl", 128, "celeb_a_vae_seed0")
    assert config.from_flat(dict(dataset="digits", model="gan")).latent_dim == 32
    # each family's own rules, reported as ConfigError naming the flag
    with pytest.raises(config.ConfigError, match="--model=vae: needs image data"):
        config.from_flat(dict(dataset="ring8", model="vae"))
    with pytest.raises(config.ConfigError, match="--num_far=64: must be < --batch_size=64"):
        config.from_flat(dict(dataset="ring8", num_far=64))


@pytest.mark.parametrize("flags, shape, generator, encoder", [
    (dict(dataset="ring8", num_far=0), None, "generator", False),
    (dict(dataset="digits", base_width=4), (16, 1), "generator", False),
    (dict(dataset="digits", model="gan", image_size=16), (16, 1), "decoder", False),
    (dict(dataset="digits", model="vae", image_size=16), (16, 1), "decoder", True),
])
def test_each_family_builds_its_model_and_names_its_generator(flags, shape, generator,
                                                              encoder, tmp_path):
    from far_keras import builders
    cfg = config.from_flat(dict(flags, jit_compile=False, steps_per_execution=1))
    if shape is not None:
        assert cfg.family.image_shape(cfg) == shape
    model = builders.build_model(cfg)
    assert model.evaluated_generator() is getattr(model, generator)
    assert (model.exported_encoder() is not None) == encoder
    assert model.latent_dim == cfg.latent_dim


def test_every_registry_matches_the_list_flags_take_their_choices_from():
    from far_keras import data, nets, objectives, training
    from far_keras.data import images, synthetic
    from far_keras.models import families as fam
    from far_keras.nets import resnet
    from far_keras.objectives import penalties
    from far_keras.training import optimizers, strategy

    choices = {f.name: f.metadata["choices"] for f, _ in config.all_fields()}
    assert choices["dataset"] == data.TWO_D_DATASETS + data.IMAGE_DATASETS
    assert synthetic.DATASETS == data.TWO_D_DATASETS
    for name in data.TWO_D_DATASETS:
        assert synthetic.make_source(name).name == name
    for name in data.IMAGE_DATASETS:
        assert images.resolve_dataset_name(name) in images.KNOWN_DATASETS
    assert choices["regularizer"] == objectives.REGULARIZERS
    assert tuple(penalties.REGULARIZER_FUNCTIONS) == objectives.REGULARIZERS
    assert choices["penalty_target"] == ("auto",) + objectives.PENALTY_TARGETS
    assert choices["strategy"] == training.STRATEGIES == strategy.STRATEGIES
    assert choices["optimizer"] == training.OPTIMIZERS
    opt_cfg = config.OptimizerConfig
    for name in training.OPTIMIZERS:
        optimizers.make_optimizer(opt_cfg(optimizer=name), 0.1)
    assert choices["architecture"] == ("auto",) + nets.ARCHITECTURES
    assert set(resnet.PRESETS) == set(nets.ARCHITECTURES) - {"mlp"}
    # the TF-free defaults agree with the presets' latent dimensions
    assert {k: v[2] for k, v in resnet.PRESETS.items()} == {
        k: fam.DEFAULT_LATENT_DIM[k] for k in resnet.PRESETS}


def _imports(path):
    """Every far_keras module a file imports (absolute imports only)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in out if m.startswith("far_keras")}


def test_the_layers_hold():
    files = sorted(PACKAGE.rglob("*.py")) + sorted(ROOT.glob("*.py"))
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        imported = _imports(path)
        if rel.startswith("far_keras/models/"):
            assert not {m for m in imported if m.startswith((
                "far_keras.training", "far_keras.evaluation", "far_keras.experiment",
                "far_keras.builders"))}, rel
        else:
            # the family modules are reached through the registry only
            assert not imported & {"far_keras.models.gan", "far_keras.models.sdkl",
                                   "far_keras.models.gan.FARGAN"}, rel
        # no branch on the family outside the seam
        assert "is_sdkl" not in path.read_text(), rel


def test_the_library_takes_only_the_canonical_spelling():
    with pytest.raises(config.ConfigError, match="--model=sdkl_no_sampling: must be one of"):
        config.from_flat(dict(model="sdkl_no_sampling", dataset="digits"))
    from far_keras.models import sdkl
    with pytest.raises(ValueError, match="unknown SDKL-family model 'sdkl_no_sampling'"):
        sdkl.build_sdkl_model("sdkl_no_sampling", resolution=16, channels=1)
    assert families.resolve_deprecated_model("sdkl_nosample") == ("sdkl_nosample", None)
    assert families.resolve_deprecated_model("sdkl_no_sampling") == (
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
