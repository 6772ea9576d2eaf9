"""cion.pretrain end to end on tiny CPU runs: SIGKILL + bit-identical resume (1 and 2 ranks), 2-process gloo vs
1 process, run folders (refused, locked, overwritten), export."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
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


# GhostNet's head applies dropout, which draws from the global torch RNG: the resume must restore it exactly
KILL = dict(model="ghostnet_0_5", epochs=2, max_steps_per_epoch=4, save_every_steps=2)


def _state_equal(a, b):
    """Bit-equality of two checkpoints' weights, optimiser state and loss centre."""
    for part in ("student", "teacher"):
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    assert all(torch.equal(sa[i][n], sb[i][n]) for i in sa for n in sa[i]), "optimizer"
    assert torch.equal(a["center"], b["center"])


def _log_without_timing(out):
    recs = [json.loads(x) for x in (Path(out) / "log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "images_per_s"} for r in recs]


def _kill_after_first_checkpoint(proc, out):
    """SIGKILL `proc` as soon as out/checkpoint.pth exists (it appears complete: written, then renamed)."""
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and not (Path(out) / "checkpoint.pth").exists():
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)


def test_sigkill_mid_epoch_and_resume_is_bit_identical(toy, tmp_path):
    full = pretrain(config_from_dict(_cfg(toy, tmp_path / "full", **KILL)), progress=False)
    assert full["iterations"] == 8 and full["failed_images"] > 0      # broken files skipped, not fatal
    cfg_path = tmp_path / "killed.yaml"
    cfg_path.write_text(yaml.safe_dump(_cfg(toy, tmp_path / "killed", **KILL)))
    proc = subprocess.Popen([sys.executable, "-m", "cion", "pretrain", "--config", str(cfg_path),
                             "--no-progress"], env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _kill_after_first_checkpoint(proc, tmp_path / "killed")
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    ck = load_checkpoint(tmp_path / "killed" / "checkpoint.pth")
    assert ck["step_in_epoch"] > 0 and 0 < ck["it"] < 8                # a mid-epoch checkpoint
    # the killed process held the folder's lock; the kernel released it with the process
    resumed = pretrain(config_from_dict(_cfg(toy, tmp_path / "killed", **KILL)), resume=True, progress=False)
    assert resumed["iterations"] == 8
    _state_equal(load_checkpoint(tmp_path / "full" / "checkpoint.pth"),
                 load_checkpoint(tmp_path / "killed" / "checkpoint.pth"))
    # the log holds every step once, as the uninterrupted run's does: nothing doubled, nothing cut in half
    assert _log_without_timing(tmp_path / "killed") == _log_without_timing(tmp_path / "full")
    assert (tmp_path / "full" / "loss_lr.png").stat().st_size > 0

    # export the teacher and embed images with reidzoo.load
    hub = export_teacher(tmp_path / "full" / "checkpoint.pth", tmp_path / "hub")
    model = reidzoo.load(hub)
    with torch.no_grad():
        feats = model(torch.randn(2, 3, 256, 128))
    assert feats.shape == (2, 1280) and torch.isfinite(feats).all()
    card = (hub / "README.md").read_text()  # our run, not the release: the paper's results do not apply
    assert card_provenance(card) == "cion-pretrain" and not card_claims_paper_results(card)
    with pytest.raises(ValueError, match="trained ghostnet_0_5"):
        export_teacher(tmp_path / "full" / "checkpoint.pth", tmp_path / "hub2", name="resnet18")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank, cfg, resume, port):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2",
                      LOCAL_RANK=str(rank))
    pretrain(config_from_dict(cfg), resume=resume, progress=False)


def _two_ranks(cfg, resume=False, kill_after_checkpoint=False):
    """A 2-process gloo run in forked children (no re-import: fast); optionally SIGKILLed after its first checkpoint."""
    ctx = mp.start_processes(_rank_main, args=(cfg, resume, _free_port()), nprocs=2, join=False,
                             start_method="fork")
    if kill_after_checkpoint:
        ck = Path(cfg["output_dir"]) / "checkpoint.pth"
        deadline = time.time() + 240
        while time.time() < deadline and not ck.exists() and all(p.is_alive() for p in ctx.processes):
            time.sleep(0.005)
        for p in ctx.processes:
            os.kill(p.pid, signal.SIGKILL)
        for p in ctx.processes:
            p.join()
        return
    while not ctx.join():
        pass


def test_two_gloo_ranks_killed_mid_epoch_resume_bit_identically(toy, tmp_path):
    kw = dict(KILL, batch_size_per_gpu=4, epochs=1, max_steps_per_epoch=4)
    _two_ranks(_cfg(toy, tmp_path / "full", **kw))
    _two_ranks(_cfg(toy, tmp_path / "killed", **kw), kill_after_checkpoint=True)
    ck = load_checkpoint(tmp_path / "killed" / "checkpoint.pth")
    assert ck["world_size"] == 2 and 0 < ck["step_in_epoch"] < 4
    _two_ranks(_cfg(toy, tmp_path / "killed", **kw), resume=True)
    _state_equal(load_checkpoint(tmp_path / "full" / "checkpoint.pth"),
                 load_checkpoint(tmp_path / "killed" / "checkpoint.pth"))
    assert _log_without_timing(tmp_path / "killed") == _log_without_timing(tmp_path / "full")


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
    trainer.close()
    after = load_checkpoint(tmp_path / "run" / "checkpoint.pth")
    assert after["it"] == before["it"] == 3
    assert all(torch.equal(after["teacher"][k], before["teacher"][k]) for k in before["teacher"])


def test_a_run_folder_is_never_replaced_by_accident_and_holds_one_run_at_a_time(toy, tmp_path, capsys):
    from cion.cli import main as cion_main
    from reidzoo.rundir import RunDirError, RunLock
    out = tmp_path / "run"
    cfg = _cfg(toy, out, epochs=1, max_steps_per_epoch=2)
    pretrain(config_from_dict(cfg), progress=False)
    before = {f: (out / f).read_bytes() for f in ("checkpoint.pth", "log.jsonl", "config.yaml")}
    with pytest.raises(RunDirError, match="already holds a run.*--resume.*--overwrite"):
        pretrain(config_from_dict(cfg), progress=False)
    with pytest.raises(RunDirError, match=r"another config \(lr: 0.02 -> 0.5\)"):
        pretrain(config_from_dict({**cfg, "lr": 0.5}), resume=True, progress=False)
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    assert cion_main(["pretrain", "--config", cfg_path, "--no-progress"]) == 2
    assert cion_main(["pretrain", "--config", cfg_path, "--resume", "--overwrite"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "already holds a run" in err[0] and "pass one of them" in err[1]
    assert {f: (out / f).read_bytes() for f in before} == before          # the finished run is intact

    with RunLock(out):                                                   # another process writing there
        with pytest.raises(RunDirError, match=f"in use by another run \\(pid {os.getpid()}\\)"):
            pretrain(config_from_dict(cfg), resume=True, progress=False)
    assert {f: (out / f).read_bytes() for f in before} == before
    # a finished run resumed does nothing and logs nothing more
    assert pretrain(config_from_dict(cfg), resume=True, progress=False)["iterations"] == 2
    assert (out / "log.jsonl").read_bytes() == before["log.jsonl"]
    # --overwrite starts over
    (out / "loss_lr.png").unlink()
    pretrain(config_from_dict({**cfg, "max_steps_per_epoch": 1}), overwrite=True, progress=False)
    assert load_checkpoint(out / "checkpoint.pth")["it"] == 1 and (out / "loss_lr.png").exists()


def test_log_is_cut_back_to_the_checkpoint_half_lines_included(tmp_path):
    from cion.pretrain.train import truncate_log
    log = tmp_path / "log.jsonl"
    lines = [json.dumps({"it": i, "loss": 1.0}) for i in (1, 2, 3)]
    log.write_text("\n".join(lines) + '\n{"it": 4, "lo')            # a kill mid-line
    truncate_log(log, len(lines[0]) + 1, it=1)                        # the size the checkpoint recorded
    assert log.read_text() == lines[0] + "\n"
    log.write_text("\n".join(lines) + '\n{"it": 4, "lo')
    truncate_log(log, None, it=2)                                     # a checkpoint from before log_bytes
    assert log.read_text() == lines[0] + "\n" + lines[1] + "\n"


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
