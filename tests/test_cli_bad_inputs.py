"""Every command on a table of bad inputs: one `error:` line, exit 2 (input) or 1 (failed run), no traceback,
and nothing written earlier is changed (docs/design.md, "Errors")."""
import errno
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from cion.cli import main as cion_main
from cion.pretrain.toyset import make_toy_cional
from reidzoo.cli import main as reidzoo_main
from release_checkpoints import write_release

MAINS = {"reidzoo": reidzoo_main, "cion": cion_main}
TINY_PRETRAIN = dict(model="resnet18", out_dim=32, hidden_dim=16, bottleneck_dim=8,
                     augment=dict(global_size=[32, 16], local_size=[16, 8], local_crops=1), batch_size_per_gpu=4,
                     gradual_epochs=[1], gradual_instances=[2], epochs=1, warmup_epochs=0, precision="fp32",
                     device="cpu", num_workers=0, threads=1, max_steps_per_epoch=1)


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    """The inputs of every case, and outputs of earlier runs that no failing command may touch."""
    b = tmp_path_factory.mktemp("box")
    (b / "garbage.pth").write_bytes(os.urandom(300))
    (b / "garbage.npz").write_bytes(b"PK\x03\x04 not really a zip")
    (b / "empty.npz").write_bytes(b"")
    (b / "bad.yaml").write_text("epochs: [1, 2\n")
    (b / "three.yaml").write_text("epochs: three\n")
    toy = make_toy_cional(b / "toy", n_ids=4, images_per_id=[2] * 4, size=(32, 16))
    for name, entry in (("escape", "../../etc/passwd"), ("absolute", "/etc/passwd")):
        annos = json.loads((toy / "annotations.json").read_text())
        annos[1]["file_path"] = entry
        (toy / f"{name}.json").write_text(json.dumps(annos))
    annos = json.loads((toy / "annotations.json").read_text())
    (toy / "float_id.json").write_text(json.dumps([{**annos[0], "id": 0.5}] + annos[1:]))
    (toy / "two_ids.json").write_text(json.dumps(annos + [{**annos[0], "id": 3}]))
    cfg = {**TINY_PRETRAIN, "image_root": str(toy), "annotations": str(toy / "annotations.json")}
    (b / "pretrain.yaml").write_text(yaml.safe_dump(cfg))
    # a finished pre-training run (a real one: the full-disk case resumes it) and a truncated checkpoint
    assert cion_main(["pretrain", "--config", b / "pretrain.yaml", "--output-dir", b / "run", "--no-progress"]) == 0
    (b / "broken_run").mkdir()
    (b / "broken_run" / "checkpoint.pth").write_bytes((b / "run" / "checkpoint.pth").read_bytes()[:2000])
    # mining output whose tracklets.jsonl names a file outside the folder
    mined = b / "mined"
    (mined / "crops").mkdir(parents=True)
    (mined / "tracklets.jsonl").write_text(json.dumps({"video": "v", "tracklet": 0, "frame": 0, "bbox": [0, 0, 4, 8],
                                                       "score": 1.0, "file_path": "/etc/passwd"}) + "\n")
    rng = np.random.default_rng(0)
    feats = dict(features=rng.normal(size=(8, 4)).astype(np.float32), video=np.array(["a"] * 4 + ["b"] * 4),
                 tracklet=np.array([0, 0, 1, 1] * 2), file_path=np.array([f"c/{i}.jpg" for i in range(8)]))
    np.savez(b / "feats.npz", **feats)
    np.savez(b / "feats_escape.npz", **{**feats, "file_path": np.array(["../x.jpg"] + [f"c/{i}.jpg" for i in range(1, 8)])})
    np.savez(b / "feats_dup.npz", **{**feats, "file_path": np.array(["c/0.jpg"] * 2 + [f"c/{i}.jpg" for i in range(2, 8)])})
    (b / "labels").mkdir()
    (b / "labels" / "annotations.json").write_text("[]  earlier output")
    write_release("ghostnet_0_5", b / "ghostnet.pth")
    assert reidzoo_main(["convert", b / "ghostnet.pth", "--out", b / "hub" / "ghostnet"]) == 0
    (b / "hub" / "not_a_hub").mkdir()
    (b / "video.avi").write_bytes(b"not a video")
    # the shape of a `reidzoo cluster-contrast` last.pth (no epoch key: not a fine-tuning checkpoint)
    torch.save({"config": {"model": "resnet18", "eps": 0.6, "k1": 30, "temperature": 0.05}, "model": {},
                "history": []}, b / "contrast_last.pth")
    return b


def snapshot(root: Path) -> dict:
    """Size and modification time (ns) of every file under root: any write changes them."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def full_disk(monkeypatch):
    """Writes fail as on a full disk: the atomic writers' last steps (fsync, rename) raise ENOSPC."""
    def enospc(*_a, **_k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    for name in ("fsync", "replace", "rename"):
        monkeypatch.setattr(os, name, enospc)


# (case id, command line with {b} for the box folder, exit status, pattern of the error line, setup)
CASES = [
    # reidzoo evaluate / extract
    ("evaluate-unknown-model", "reidzoo evaluate --model convnxt_tiny --root {b}/nowhere", 2, "Did you mean: convnext_tiny", None),
    ("evaluate-missing-dataset", "reidzoo evaluate --model resnet18 --root {b}/nowhere", 2, "Market-1501 not found", None),
    ("evaluate-features-missing", "reidzoo evaluate --features {b}/none.npz", 2, "none.npz", None),
    ("evaluate-features-not-npz", "reidzoo evaluate --features {b}/garbage.npz", 2, "garbage.npz", None),
    ("evaluate-device-tpu", "reidzoo evaluate --model resnet18 --device tpu", 2, "device 'tpu' is not one", None),
    ("evaluate-max-rank-0", "reidzoo evaluate --features {b}/feats.npz --max-rank 0", 2, "must be >= 1", None),
    ("extract-weights-missing", "reidzoo extract --model resnet18 --weights {b}/no.pth {b}/toy --out {b}/f.npz", 2,
     "no.pth do not exist", None),
    ("extract-no-images", "reidzoo extract --model resnet18 {b}/labels --out {b}/f.npz", 2, "no images", None),
    # reidzoo finetune / export / convert / publish / zoo / synthetic
    ("finetune-bad-yaml", "reidzoo finetune --config {b}/bad.yaml --out {b}/ft", 2, r"bad.yaml: line 2 is not valid YAML", None),
    ("finetune-epochs-three", "reidzoo finetune --config {b}/three.yaml --out {b}/ft", 2, "epochs must be an integer", None),
    ("finetune-lr-text", "reidzoo finetune --out {b}/ft --set lr=abc", 2, "lr must be a number", None),
    ("finetune-epochs-negative", "reidzoo finetune --out {b}/ft --set epochs=-1", 2, "epochs must be >= 1", None),
    ("finetune-device-tpu", "reidzoo finetune --out {b}/ft --set device=tpu", 2, "device 'tpu'", None),
    ("finetune-unknown-model", "reidzoo finetune --out {b}/ft --model resnet19", 2, "unknown ReIDZoo model", None),
    ("finetune-resume-and-overwrite", "reidzoo finetune --out {b}/ft --resume --overwrite", 2, "pass one of them", None),
    ("export-truncated", "reidzoo export {b}/garbage.pth --out {b}/exp", 2, "not a PyTorch checkpoint", None),
    ("export-pretrain-checkpoint", "reidzoo export {b}/run/checkpoint.pth --out {b}/exp", 2,
     "not a `reidzoo finetune` checkpoint", None),
    ("export-contrast-run-as-hub", "reidzoo export {b}/contrast_last.pth --out {b}/exp", 2, "export it with --format onnx",
     None),
    ("export-onnx-unknown-model", "reidzoo export convnxt_tiny --format onnx --out {b}/x.onnx", 2, "Did you mean", None),
    ("export-onnx-not-onnx-name", "reidzoo export resnet18 --random --format onnx --out {b}/x.txt", 2,
     "must end in .onnx", None),
    ("cluster-contrast-unknown-model", "reidzoo cluster-contrast --out {b}/cc --model resnet19", 2, "Did you mean", None),
    ("cluster-contrast-eps", "reidzoo cluster-contrast --out {b}/cc --eps 2", 2, "must be <= 1", None),
    ("cluster-contrast-device-tpu", "reidzoo cluster-contrast --out {b}/cc --set device=tpu", 2, "device 'tpu'", None),
    ("finetune-recipe-unknown-model", "reidzoo finetune --recipe release --model resnet19 --dataset market1501 "
     "--out {b}/ft", 2, "resnet19", None),
    ("convert-missing", "reidzoo convert {b}/none.pth --out {b}/conv", 2, "none.pth does not exist", None),
    ("convert-unknown-name", "reidzoo convert {b}/ghostnet.pth --name ghostnet_0_6 --out {b}/conv", 2,
     "unknown ReIDZoo model", None),
    ("convert-out-not-empty", "reidzoo convert {b}/ghostnet.pth --out {b}/hub/ghostnet", 2, "not empty", None),
    ("convert-disk-full", "reidzoo convert {b}/ghostnet.pth --out {b}/conv", 1, "No space left on device", full_disk),
    ("publish-bad-folders-rest-goes-on", "reidzoo publish {b}/hub/not_a_hub {b}/hub/ghostnet {b}/nowhere --org o --dry-run",
     1, r"2 of 3 folder\(s\) not published", None),
    ("zoo-info-unknown", "reidzoo zoo info convnxt", 2, "Did you mean", None),
    ("synthetic-cameras", "reidzoo synthetic market --out {b}/syn --cameras 9", 2, "cameras", None),
    ("synthetic-out-not-empty", "reidzoo synthetic market --out {b}/labels", 2, "not empty", None),
    # cion mine / denoise
    ("mine-stride-0", "cion mine {b}/video.avi --out {b}/m --stride 0", 2, "must be >= 1", None),
    ("mine-shard", "cion mine {b}/video.avi --out {b}/m --shard 2 --num-shards 2", 2, "below --num-shards", None),
    ("mine-device-tpu", "cion mine {b}/video.avi --out {b}/m --device tpu", 2, "device 'tpu'", None),
    ("mine-ultralytics-untrusted", "cion mine {b}/video.avi --out {b}/m --detector ultralytics "
     "--detector-weights {b}/garbage.pth", 2, "--trust-detector-weights", None),
    ("mine-corrupt-video", "cion mine {b}/video.avi --out {b}/m", 1, "failed", None),
    ("denoise-radius-negative", "cion denoise --features {b}/feats.npz --out {b}/d --radius -1", 2, "must be > 0", None),
    ("denoise-unknown-model", "cion denoise {b}/mined --model convnxt_tiny --out {b}/d", 2, "Did you mean", None),
    ("denoise-tracklet-escapes", "cion denoise {b}/mined --model colourhist --out {b}/d", 2,
     r"tracklets.jsonl:1: '/etc/passwd' is outside its root", None),
    ("denoise-features-escape", "cion denoise --features {b}/feats_escape.npz --out {b}/d", 2,
     r"entry 0: '../x.jpg' is outside", None),
    ("denoise-features-duplicates", "cion denoise --features {b}/feats_dup.npz --out {b}/d", 2, "more than once", None),
    ("denoise-features-not-npz", "cion denoise --features {b}/garbage.npz --out {b}/d", 2, "garbage.npz", None),
    ("denoise-features-empty", "cion denoise --features {b}/empty.npz --out {b}/d", 2, "empty.npz", None),
    ("denoise-out-exists", "cion denoise --features {b}/feats.npz --out {b}/labels", 2, "already exists", None),
    ("denoise-device-tpu", "cion denoise {b}/mined --model resnet18 --device tpu --out {b}/d", 2, "device 'tpu'", None),
    ("denoise-disk-full", "cion denoise --features {b}/feats.npz --out {b}/d --radius 1.5 --distance 0.5", 1,
     "No space left on device", full_disk),
    # cion pretrain / quickstart / experiment
    ("pretrain-bad-yaml", "cion pretrain --config {b}/bad.yaml", 2, "is not valid YAML", None),
    ("pretrain-epochs-three", "cion pretrain --config {b}/three.yaml", 2, "epochs must be an integer", None),
    ("pretrain-epochs-true", "cion pretrain --config {b}/pretrain.yaml --set epochs=true", 2, "epochs must be an integer", None),
    ("pretrain-epochs-negative", "cion pretrain --config {b}/pretrain.yaml --set epochs=-1", 2, "epochs must be >= 1", None),
    ("pretrain-device-tpu", "cion pretrain --config {b}/pretrain.yaml --set device=tpu", 2, "device 'tpu'", None),
    ("pretrain-unknown-model", "cion pretrain --config {b}/pretrain.yaml --model resnet19 --output-dir {b}/p", 2,
     "Did you mean", None),
    ("pretrain-run-exists", "cion pretrain --config {b}/pretrain.yaml --output-dir {b}/run", 2, "already holds a run", None),
    ("pretrain-truncated-resume", "cion pretrain --config {b}/pretrain.yaml --output-dir {b}/broken_run --resume", 2,
     "checkpoint.pth", None),
    ("pretrain-annotation-escapes", "cion pretrain --config {b}/pretrain.yaml --output-dir {b}/p "
     "--annotations {b}/toy/escape.json", 2, r"entry 1: '../../etc/passwd' is outside", None),
    ("pretrain-annotation-absolute", "cion pretrain --config {b}/pretrain.yaml --output-dir {b}/p "
     "--annotations {b}/toy/absolute.json", 2, "need --allow-absolute-paths", None),
    ("pretrain-float-id", "cion pretrain --config {b}/pretrain.yaml --output-dir {b}/p "
     "--annotations {b}/toy/float_id.json", 2, "integer id", None),
    ("pretrain-one-file-two-ids", "cion pretrain --config {b}/pretrain.yaml --output-dir {b}/p "
     "--annotations {b}/toy/two_ids.json", 2, "under two ids", None),
    ("pretrain-export-truncated", "cion pretrain --export {b}/broken_run/checkpoint.pth --out {b}/exp", 2,
     "checkpoint.pth", None),
    ("pretrain-disk-full", "cion pretrain --config {b}/pretrain.yaml --output-dir {b}/p_full", 1,
     "No space left on device", full_disk),
    ("quickstart-unknown-model", "cion quickstart --work {b}/qs --model resnet19", 2, "Did you mean", None),
    ("quickstart-missing-preset", "cion quickstart --work {b}/qs --preset nonesuch", 2, "no preset 'nonesuch'", None),
    ("experiment-unknown-model", "cion experiment --work {b}/ex --model resnet19", 2, "Did you mean", None),
]


def test_denoising_that_keeps_no_identity_writes_nothing(box, capsys):
    assert cion_main(["denoise", "--features", box / "feats.npz", "--out", box / "none", "--radius", "1.5",
                      "--distance", "0.5", "--min-images", "100"]) == 2
    assert "no identity survived denoising: all 8 crops were dropped" in capsys.readouterr().err
    assert not (box / "none" / "annotations.json").exists()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_every_command_fails_in_one_line_and_keeps_earlier_outputs(case, box, capsys, monkeypatch):
    name, line, status, pattern, setup = case
    argv = line.format(b=box).split()
    before = snapshot(box)
    if setup:
        setup(monkeypatch)
    try:
        code = MAINS[argv[0]](argv[1:])
    except SystemExit as exc:  # argparse: a usage error
        code = exc.code
    monkeypatch.undo()
    out, err = capsys.readouterr()
    assert code == status, (out, err)
    assert "Traceback" not in out + err and re.search(pattern, err), err
    if status == 2:  # one line says what is wrong (argparse's own lines start with the usage)
        assert sum(bool(re.match(r"(error|[\w -]+: error): ", x)) for x in err.splitlines()) == 1, err
    changed = {k: v for k, v in snapshot(box).items() if before.get(k, v) != v}
    assert not changed and set(before) <= set(snapshot(box)), f"{name} changed {changed or set(before) - set(snapshot(box))}"
