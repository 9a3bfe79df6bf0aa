"""Makes tiny_state_dict.pth + tiny_state_dict_expected.npz, run once with torch
installed (not a far_keras dependency): a torch.save file with float32, float16 and
int64 tensors, a non-contiguous (transposed) one and a scalar, to test
``far_keras.metrics.torch_archive`` without torch.

  python tests/data/make_torch_fixture.py
"""

import collections
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.RandomState(0)
base = torch.from_numpy(rng.randn(3, 5).astype(np.float32))
tensors = collections.OrderedDict([
    ("conv.weight", torch.from_numpy(rng.randn(4, 2, 3, 3).astype(np.float32))),
    ("bn.running_mean", torch.from_numpy(rng.randn(4).astype(np.float32))),
    ("half", torch.from_numpy(rng.randn(6).astype(np.float16))),
    ("steps", torch.tensor([1, 2, 3], dtype=torch.int64)),
    ("transposed", base.t()),
    ("slice", base[1]),
    ("scalar", torch.tensor(2.5)),
])
torch.save(tensors, os.path.join(HERE, "tiny_state_dict.pth"))
np.savez(os.path.join(HERE, "tiny_state_dict_expected.npz"),
         **{k.replace(".", "__"): v.numpy() for k, v in tensors.items()})
