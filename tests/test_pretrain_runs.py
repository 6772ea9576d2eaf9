"""cion.pretrain end to end on tiny CPU runs: SIGKILL + resume, 2-process gloo vs 1 process, export."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

import reidzoo
from cion.pretrain.checkpoint import load_checkpoint
from cion.pretrain.config import config_from_dict
from cion.pretrain.export import export_teacher
from cion.pretrain.toyset import make_toy_cional
from cion.pretrain.train import pretrain
from reidzoo.cards import card_claims_paper_results, card_provenance

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(model="resnet18", out_dim=64, hidden_dim=32, bottleneck_dim=16,
            augment=dict(global_size=[64, 32], local_size=[32, 16], local_crops=1), batch_size_per_gpu=8,
            gradual_epochs=[1, 2],
            gradual_instances=[2, 4], epochs=2, warmup_epochs=1, lr=0.02, precision="fp32", device="cpu",
            num_workers=0, threads=1, max_steps_per_epoch=3, seed=3)


def _env():
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    env.pop("WORLD_SIZE", None)
    return env


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """16 identities incl. one with a single image, one corrupt image and one annotation to a missing file."""
    root = make_toy_cional(tmp_path_factory.mktemp("toy"), n_ids=16, images_per_id=[4] * 15 + [1], size=(64, 32))
    annos = json.loads((root / "annotations.json").read_text())
    (root / annos[1]["file_path"]).write_bytes(b"\xff\xd8 truncated")
    annos.insert(2, {"file_path": "images/00000/missing.jpg", "id": 0})
    (root / "annotations.json").write_text(json.dumps(annos))
    return root


def _cfg(toy, out, **kw):
    return {**TINY, "image_root": str(toy), "annotations": str(toy / "annotations.json"), "output_dir": str(out), **kw}


def _losses(out):
    return [r["loss"] for r in map(json.loads, (Path(out) / "log.jsonl").read_text().splitlines()) if "loss" in r]


def test_sigkill_and_resume_matches_uninterrupted_run(toy, tmp_path):
    full = pretrain(config_from_dict(_cfg(toy, tmp_path / "full")), progress=False)
    assert full["iterations"] == 6 and full["failed_images"] > 0      # broken files skipped, not fatal
    cfg_path = tmp_path / "killed.yaml"
    cfg_path.write_text(yaml.safe_dump(_cfg(toy, tmp_path / "killed", save_every_steps=2)))
    proc = subprocess.Popen([sys.executable, "-m", "cion", "pretrain", "--config", str(cfg_path),
                             "--no-progress"], env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log = tmp_path / "killed" / "log.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if log.exists() and '"event": "checkpoint"' in log.read_text():
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    ck = load_checkpoint(tmp_path / "killed" / "checkpoint.pth")
    assert 0 < ck["it"] < 6
    resumed = pretrain(config_from_dict(_cfg(toy, tmp_path / "killed", save_every_steps=2)), resume=True,
                       progress=False)
    assert resumed["iterations"] == 6
    a = load_checkpoint(tmp_path / "full" / "checkpoint.pth")["teacher"]
    b = load_checkpoint(tmp_path / "killed" / "checkpoint.pth")["teacher"]
    assert max((a[k].double() - b[k].double()).abs().max().item() for k in a) <= 1e-5
    assert _losses(tmp_path / "killed") == pytest.approx(_losses(tmp_path / "full"), abs=1e-6)
    assert (tmp_path / "full" / "loss_lr.png").stat().st_size > 0

    # export the teacher and embed images with reidzoo.load
    hub = export_teacher(tmp_path / "full" / "checkpoint.pth", tmp_path / "hub")
    model = reidzoo.load(hub)
    with torch.no_grad():
        feats = model(torch.randn(2, 3, 256, 128))
    assert feats.shape == (2, 512) and torch.isfinite(feats).all()
    card = (hub / "README.md").read_text()  # our run, not the release: the paper's results do not apply
    assert card_provenance(card) == "cion-pretrain" and not card_claims_paper_results(card)
    with pytest.raises(ValueError, match="trained resnet18"):
        export_teacher(tmp_path / "full" / "checkpoint.pth", tmp_path / "hub2", name="ghostnet_1_0")


def test_two_gloo_processes_match_one_process(toy, tmp_path):
    one = _cfg(toy, tmp_path / "one", batch_size_per_gpu=16, epochs=1, max_steps_per_epoch=3)
    pretrain(config_from_dict(one), progress=False)
    two_path = tmp_path / "two.yaml"
    two_path.write_text(yaml.safe_dump(_cfg(toy, tmp_path / "two", batch_size_per_gpu=8, epochs=1,
                                            max_steps_per_epoch=3)))
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "cion", "pretrain",
                          "--config", str(two_path), "--no-progress"],
                         env=_env(), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    l1, l2 = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert len(l1) == len(l2) == 3
    assert l2 == pytest.approx(l1, abs=1e-4)
    assert load_checkpoint(tmp_path / "two" / "checkpoint.pth")["world_size"] == 2


def test_nan_loss_stops_and_keeps_last_good_checkpoint(toy, tmp_path):
    from cion.pretrain.train import Pretrainer, TrainingDiverged
    pretrain(config_from_dict(_cfg(toy, tmp_path / "run", epochs=1)), progress=False)
    before = load_checkpoint(tmp_path / "run" / "checkpoint.pth")
    trainer = Pretrainer(config_from_dict(_cfg(toy, tmp_path / "run", epochs=2)), resume=True, progress=False)
    assert trainer.dataset.multicrop.cfg is trainer.cfg.augment  # the config's whole multi-crop recipe is used
    with torch.no_grad():
        next(trainer.student_module.head.parameters()).fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="last good checkpoint"):
        trainer.fit()
    after = load_checkpoint(tmp_path / "run" / "checkpoint.pth")
    assert after["it"] == before["it"] == 3
    assert all(torch.equal(after["teacher"][k], before["teacher"][k]) for k in before["teacher"])


def test_diagnostics_and_held_out_probe_are_logged_and_plotted(toy, tmp_path):
    from reidzoo.data.synthetic import make_market_like
    probe = make_market_like(tmp_path / "probe", n_ids_train=4, n_ids_test=4, cameras=2, images_per_id=4,
                             progress=False)
    out = tmp_path / "run"
    pretrain(config_from_dict(_cfg(toy, out, probe_root=str(probe), probe_every=4, collapse_patience=2,
                                   centering="sinkhorn")), progress=False)
    recs = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    steps = [r for r in recs if "loss" in r]
    for r in steps:
        assert 0 < r["teacher_entropy"] < r["ln_out_dim"] + 1e-4
        assert r["kl"] == pytest.approx(r["loss"] - r["teacher_entropy"], abs=1e-4)
        assert -1 <= r["feature_cosine"] <= 1 and r["center_norm"] >= 0
    probes = [r for r in recs if "probe_mAP" in r]
    assert [r["it"] for r in probes] == [4, 6]                      # every 4 steps, and at the end
    assert all(0 < r["probe_mAP"] <= 1 for r in probes)
    assert (out / "loss_lr.png").stat().st_size > 0


def test_tiny_run_in_the_learning_regime_leaves_uniform_outputs(tmp_path):
    """Sinkhorn centring, sharp teacher, fast teacher EMA, no colour jitter: the loss falls below ln D."""
    root = make_toy_cional(tmp_path / "toy", n_ids=16, images_per_id=4, size=(64, 32))
    cfg = {**TINY, "image_root": str(root), "annotations": str(root / "annotations.json"),
           "output_dir": str(tmp_path / "run"), "out_dim": 64, "hidden_dim": 64, "bottleneck_dim": 32,
           "batch_size_per_gpu": 16, "gradual_epochs": [4],
           "gradual_instances": [2], "epochs": 4, "max_steps_per_epoch": 8, "lr": 0.016, "seed": 0,
           "centering": "sinkhorn", "teacher_temp": 0.02, "warmup_teacher_temp": 0.02, "momentum_teacher": 0.95,
           "augment": {**TINY["augment"], "global_size": [32, 16], "local_size": [16, 8], "jitter_p": 0.0,
                       "grey_p": 0.0, "solarize_p": [0.0, 0.0, 0.0], "blur_sigma": [0.01, 0.2]}}
    pretrain(config_from_dict(cfg), progress=False)
    steps = [r for r in map(json.loads, (tmp_path / "run" / "log.jsonl").read_text().splitlines()) if "loss" in r]
    last = steps[-4:]
    ln_d = steps[0]["ln_out_dim"]
    assert sum(r["loss"] for r in last) / 4 < ln_d - 0.3 < steps[0]["loss"]
    assert max(r["teacher_entropy_ratio"] for r in last) < 0.8
