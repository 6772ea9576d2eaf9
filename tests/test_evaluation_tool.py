"""`reidzoo evaluate` end to end: saved features, and a zoo model (hub folder) on a Market-1501 tree."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from reidzoo.evaluation import evaluate
from test_evaluation import random_set

ROOT = Path(__file__).resolve().parents[1]
TOOL = [sys.executable, "-m", "reidzoo", "evaluate"]


def run_tool(*args):
    """The real command line in a fresh process (checks start-up and imports too)."""
    return subprocess.run(TOOL + [str(a) for a in args], capture_output=True, text=True, cwd=ROOT,
                          env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}, timeout=300)


def tool_main(*args):
    """`reidzoo evaluate ARGS` in this process (fast): returns its exit code."""
    from reidzoo.cli import main
    return main(["evaluate", *args])


def test_features_file(tmp_path):
    qf, gf, q_pids, g_pids, q_camids, g_camids = random_set(21, nq=80, ng=500)
    f = tmp_path / "feats.npz"
    np.savez(f, qf=qf, gf=gf, q_pids=q_pids, g_pids=g_pids, q_camids=q_camids, g_camids=g_camids)
    r = run_tool("--features", f, "--out", tmp_path / "out", "--metric", "euclidean")
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    ref = evaluate(qf, gf, q_pids, g_pids, q_camids, g_camids, metric="euclidean")
    for k in ("mAP", "rank1", "rank5", "rank10", "mINP"):
        assert 0 <= res[k] <= 1 and res[k] == pytest.approx(ref[k], abs=1e-9)
    assert res["num_valid_queries"] + res["num_skipped_queries"] == 80 and res["metric"] == "euclidean"
    assert cv2.imread(str(tmp_path / "out" / "cmc.png")) is not None
    assert "mAP" in r.stdout


def test_features_file_is_mapped_not_copied(tmp_path):
    from reidzoo.evaluation.report import load_features
    arrays = dict(zip(("qf", "gf", "q_pids", "g_pids", "q_camids", "g_camids"), random_set(23, nq=30, ng=90)))
    arrays["gf"] = np.asfortranarray(arrays["gf"])
    np.savez(tmp_path / "plain.npz", **arrays)
    np.savez_compressed(tmp_path / "packed.npz", **arrays)
    plain, packed = load_features(str(tmp_path / "plain.npz")), load_features(str(tmp_path / "packed.npz"))
    for k, a in arrays.items():
        assert isinstance(plain[k], np.memmap) and not isinstance(packed[k], np.memmap)
        np.testing.assert_array_equal(plain[k], a)
        np.testing.assert_array_equal(packed[k], a)
    np.save(tmp_path / "single.npy", arrays["qf"])
    with pytest.raises(ValueError, match="single array"):
        load_features(str(tmp_path / "single.npy"))


def test_features_file_errors(tmp_path, capsys):
    f = tmp_path / "bad.npz"
    np.savez(f, qf=np.zeros((2, 4), np.float32))
    assert tool_main("--features", f) == 2
    assert "lacks array(s)" in capsys.readouterr().err
    assert tool_main("--features", tmp_path / "missing.npz") == 2
    assert "does not exist" in capsys.readouterr().err
    qf, gf, q_pids, g_pids, q_camids, g_camids = random_set(22, nq=10, ng=50)
    qf[3, 2] = np.inf
    np.savez(f, qf=qf, gf=gf, q_pids=q_pids, g_pids=g_pids, q_camids=q_camids, g_camids=g_camids[:-1])
    assert tool_main("--features", f) == 2
    assert "g_camids has shape (49,) but there are 50 gallery features" in capsys.readouterr().err
    np.savez(f, qf=qf, gf=gf, q_pids=q_pids, g_pids=g_pids, q_camids=q_camids, g_camids=g_camids)
    assert tool_main("--features", f) == 2
    assert "NaN or infinite values in 1 row(s), e.g. rows [3]" in capsys.readouterr().err


def test_missing_dataset_shows_layout(tmp_path, capsys):
    assert tool_main("--model", "resnet18", "--dataset", "market1501", "--root", tmp_path) == 2
    err = capsys.readouterr().err
    assert "bounding_box_test" in err and "Expected layout" in err


def market_tree(data: Path) -> Path:
    """A tiny Market-1501 tree under `data` (5 people, 2 and 4 cameras) of noisy flat colours."""
    d = data / "Market-1501-v15.09.15"
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 255, (6, 3))
    for sub, count in (("bounding_box_train", 2), ("bounding_box_test", 4), ("query", 1)):
        (d / sub).mkdir(parents=True)
        for pid in range(1, 6):
            for j in range(count):
                img = np.clip(colours[pid] + rng.normal(0, 25, (128, 64, 3)), 0, 255).astype(np.uint8)
                cam = 1 + (j + (sub == "query")) % 2 + (2 if sub == "query" else 0)
                cv2.imwrite(str(d / sub / f"{pid:04d}_c{cam}s1_{j:06d}_00.jpg"), img)
    return d


@pytest.fixture
def resnet18_hub(tmp_path):
    """A random-init resnet18 hub folder (seeded)."""
    import reidzoo
    import torch
    from reidzoo.cards import Provenance
    torch.manual_seed(0)
    hub = tmp_path / "hub"
    reidzoo.save_hub_folder(reidzoo.create_model("resnet18"), "resnet18", hub, provenance=Provenance.random_init(0))
    return hub


def test_zoo_model_on_market_tree(tmp_path, resnet18_hub):
    hub = resnet18_hub
    d = market_tree(tmp_path / "data")
    (d / "bounding_box_test" / "0003_c5s1_000099_00.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match="could not be decoded") as rec:
        assert tool_main("--model", hub, "--dataset", "market1501", "--root", tmp_path / "data", "--out", out,
                         "--batch-size", 8) == 0
    assert any("0003_c5s1_000099_00.jpg" in str(w.message) for w in rec)
    res = json.loads((out / "results.json").read_text())
    assert res["dataset"] == "market1501" and res["model"] == str(hub)
    assert res["num_gallery"] == 20 and res["num_query"] == 5
    assert res["failed_images"][0].endswith("0003_c5s1_000099_00.jpg")
    assert res["num_valid_queries"] == 5 and 0 < res["mAP"] <= 1
    ranked = cv2.imread(str(out / "ranked.png"))
    assert ranked is not None and ranked.shape[1] > 10 * 64


def test_extract_then_evaluate_features(tmp_path, resnet18_hub, capsys):
    from reidzoo.cli import main
    d = market_tree(tmp_path / "data")
    feats = tmp_path / "feats" / "market.npz"
    assert main(["extract", "--model", resnet18_hub, "--dataset", "market1501", "--root", tmp_path / "data",
                 "--out", feats, "--batch-size", 8]) == 0
    saved = np.load(feats)
    assert saved["qf"].shape == (5, 512) and saved["gf"].shape == (20, 512)
    assert [Path(p).name for p in saved["q_paths"]] == sorted(p.name for p in (d / "query").iterdir())
    assert tool_main("--model", resnet18_hub, "--dataset", "market1501", "--root", tmp_path / "data",
                     "--out", tmp_path / "direct") == 0
    assert tool_main("--features", feats, "--out", tmp_path / "from_file") == 0
    direct = json.loads((tmp_path / "direct" / "results.json").read_text())
    from_file = json.loads((tmp_path / "from_file" / "results.json").read_text())
    for k in ("mAP", "rank1", "mINP", "cmc"):
        assert from_file[k] == pytest.approx(direct[k], abs=1e-6)
    # image files and folders: the same images give the same features as the dataset mode
    out = tmp_path / "crops.npz"
    assert main(["extract", "--model", resnet18_hub, d / "query", "--out", out]) == 0
    crops = np.load(out)
    assert list(crops["paths"]) == list(saved["q_paths"])
    np.testing.assert_allclose(crops["features"], saved["qf"], rtol=0, atol=1e-5)
    capsys.readouterr()
    assert main(["extract", "--model", resnet18_hub, tmp_path / "nothing_here", "--out", out]) == 2
    assert "neither an image file nor a folder" in capsys.readouterr().err
