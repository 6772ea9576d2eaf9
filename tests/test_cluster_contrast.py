"""Cluster Contrast: the memory, GeM, a tiny unsupervised run that learns, and the command."""
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import reidzoo
from reidzoo.cli import main as cli
from reidzoo.data.synthetic import make_market_like
from reidzoo.data.synthetic.difficulty import Difficulty
from reidzoo.finetune import evaluate_backbone
from reidzoo.finetune.cluster_contrast import (ClusterContrastConfig, build_model, cluster_contrast, load_checkpoint,
                                               shared_config)
from reidzoo.finetune.cluster_memory import ClusterMemory, centroids
from reidzoo.finetune.gem import GeM, use_gem

from own_identities import train_split


def test_centroids_are_normalised_means_without_outliers():
    f = np.array([[1, 0], [3, 0], [0, 2], [5, 5]], np.float32)
    c = centroids(f, np.array([0, 0, 1, -1]))
    assert torch.allclose(c, torch.tensor([[1.0, 0], [0, 1]]))


def test_memory_infonce_and_momentum_updates_by_hand():
    mem = ClusterMemory(torch.eye(2), temperature=0.05, momentum=0.2, hard=True)
    # a feature at cos 0.6 / 0.8 with centroids 0 / 1: logits 12 and 16 (temperature 0.05), label 0
    loss = mem(torch.tensor([[3.0, 4.0]]), torch.tensor([0]))
    assert loss.item() == pytest.approx(math.log1p(math.exp(4)), rel=1e-5)
    # cluster 0 in the batch: cos 0.8 and cos 0.6 with its centroid -> the hard update takes the 0.6 one
    a, b = torch.tensor([0.8, 0.6]), torch.tensor([0.6, 0.8])
    mem.update(torch.stack([a, b]), torch.tensor([0, 0]))
    assert torch.allclose(mem.features[0], F.normalize(0.2 * torch.tensor([1.0, 0]) + 0.8 * b, dim=0))
    assert torch.equal(mem.features[1], torch.tensor([0.0, 1.0]))           # not in the batch
    soft = ClusterMemory(torch.eye(2), momentum=0.2, hard=False)
    soft.update(torch.stack([a, b]), torch.tensor([0, 0]))
    step = F.normalize(0.2 * torch.tensor([1.0, 0]) + 0.8 * a, dim=0)
    assert torch.allclose(soft.features[0], F.normalize(0.2 * step + 0.8 * b, dim=0))
    with pytest.raises(ValueError, match="momentum"):
        ClusterMemory(torch.eye(2), momentum=1.0)


def test_gem_pooling():
    x = torch.tensor([1.0, 2.0]).view(1, 1, 1, 2)
    g = GeM(torch.nn.AdaptiveAvgPool2d(1), p=3.0)
    assert g(x).item() == pytest.approx(((1 + 8) / 2) ** (1 / 3), rel=1e-6)
    assert GeM(torch.nn.AdaptiveAvgPool2d(1), p=1.0)(x).item() == pytest.approx(1.5)
    r18 = reidzoo.create_model("resnet18")
    y0 = r18.eval()(torch.rand(2, 3, 64, 32))
    assert use_gem(r18) and isinstance(r18.global_pool.pool, GeM) and not use_gem(r18)   # once only
    assert r18(torch.rand(2, 3, 64, 32)).shape == y0.shape
    assert not use_gem(reidzoo.create_model("vit_tiny"))       # tokens: keeps its own pooling


@pytest.fixture(scope="module")
def easy_world(tmp_path_factory):
    # Random weights only separate people by colour, so the tiny run uses people with distinct colours
    # (no look-alike groups) under mild camera shifts; the release starts from pre-trained weights.
    root = tmp_path_factory.mktemp("cc") / "market"
    make_market_like(root, n_ids_train=12, n_ids_test=2, cameras=2, images_per_id=8, seed=3, progress=False,
                     difficulty=Difficulty(group_size=1, camera_shift=0.3, misalign=0.5, occlusion=0.0, blur=0.0))
    return root


def _cfg(root, **kw):
    base = dict(model="resnet18", dataset="synthetic", root=str(root), epochs=6, iters=8, p=4, k=4, eps=0.6, k1=6,
                k2=2, input_size=(64, 32), pad=3, self_norm=False, reestimate_bn=True, num_workers=0,
                batch_size_eval=96, eval_every=6, seed=1)
    base.update(kw)
    return ClusterContrastConfig(**base)


def test_tiny_unsupervised_run_learns(easy_world, tmp_path):
    # Seeds 0, 1, 2 of this run gained 12, 10 and 18 mAP points (this test uses seed 1) with K images at
    # random. The release's camera rule (the default; the command test below runs it) gained 0.5 here:
    # from random weights on 2 cameras, an anchor with 3 companions from the other camera is too hard.
    res = cluster_contrast(_cfg(easy_world, sampler="random"), tmp_path / "run", progress=False,
                           eval_set=train_split(easy_world))
    h = res["history"]
    assert [r["epoch"] for r in h] == list(range(7)) and h[0]["gem"] and "mAP" not in h[3]
    # The memory is rebuilt every epoch and the cluster set changes, so single epochs are noisy: the
    # loss of the second half of the run against the first half, and the retrieval of the same
    # (never labelled) people before and after.
    loss = [r["loss"] for r in h[1:]]
    assert np.mean(loss[3:]) < np.mean(loss[:3]) - 0.2
    assert res["last"]["mAP"] > res["start"]["mAP"] + 0.05
    assert h[-1]["ari"] > 0.3 and h[-1]["clusters"] >= 6          # about the 12 people, mostly right
    logged = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert logged == json.loads(json.dumps(h))
    ck = torch.load(tmp_path / "run" / "last.pth", weights_only=True)
    assert ck["config"]["eps"] == 0.6 and ck["config"]["sampler"] == "random" and len(ck["history"]) == 7
    # the checkpoint gives back the evaluated model: same last-epoch score
    again = evaluate_backbone(load_checkpoint(tmp_path / "run" / "last.pth"), train_split(easy_world),
                              shared_config(_cfg(easy_world)), progress=False)
    assert again["mAP"] == pytest.approx(res["last"]["mAP"], abs=1e-6)
    # and so does its ONNX export (GeM and neck included), through onnxruntime
    pytest.importorskip("onnxruntime")
    from reidzoo.onnx_export import export_source, load_onnx
    path, rel = export_source(tmp_path / "run" / "last.pth", tmp_path / "run.onnx")
    assert rel < 1e-4
    onnx_model = load_onnx(path)
    assert onnx_model.info["cluster_contrast"]["epochs_done"] == 6
    via_onnx = evaluate_backbone(onnx_model, train_split(easy_world), shared_config(_cfg(easy_world)), progress=False)
    assert via_onnx["mAP"] == pytest.approx(res["last"]["mAP"], abs=1e-4)


def test_command_runs_and_refuses_bad_input(easy_world, tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["cluster-contrast", "--dataset", "synthetic", "--root", easy_world, "--model", "resnet18", "--out", out,
            "--epochs", "1", "--set", "iters=1", "p=4", "k=4", "k1=6", "k2=2", "input_size=[64,32]", "num_workers=0",
            "batch_size_eval=96", "self_norm=false"]
    assert cli(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["start"]["epoch"] == 0 and printed["last"]["epoch"] == 1
    assert json.loads((out / "finetune_config.json").read_text())["sampler"] == "camera"   # the release's rule
    assert cli(args) == 2 and "already holds a run" in capsys.readouterr().err
    before = (out / "log.jsonl").read_text()
    for bad, message in (("eps=1.5", "eps must be in (0, 1)"), ("pooling=max", "pooling must be"),
                         ("k1=0", "k1 must be"), ("sampler=cameras", "sampler must be camera or random")):
        assert cli(args + [bad, "--overwrite"]) == 2 and message in capsys.readouterr().err
    assert (out / "log.jsonl").read_text() == before        # refused before anything was written


def test_build_model_preprocessing():
    m, gem = build_model(ClusterContrastConfig(model="resnet18", input_size=(64, 32)))
    assert gem and list(m.pretrained_cfg["mean"]) == [0.5] * 3 and m.pretrained_cfg["input_size"] == (3, 64, 32)
    m, gem = build_model(ClusterContrastConfig(model="edgenext_x_small", self_norm=False, pooling="gem"))
    assert not gem and list(m.pretrained_cfg["mean"]) != [0.5] * 3
    x = torch.rand(3, 3, 64, 32)
    m, _ = build_model(ClusterContrastConfig(model="resnet18", input_size=(64, 32), neck=False))
    assert isinstance(m.neck, torch.nn.Identity) and torch.equal(m.eval()(x), m.backbone(x))


def test_shipped_configs_load_and_pass_the_checks():
    # the release settings (Market / MSMT17, USL / UDA) and the CPU one; nothing of them is run here
    import glob
    import os

    import yaml
    from reidzoo.config_loader import config_from_dict
    from reidzoo.finetune.cluster_contrast import check_config
    root = os.path.join(os.path.dirname(__file__), "..", "configs", "cluster_contrast")
    found = {}
    for path in sorted(glob.glob(os.path.join(root, "*.yaml"))):
        with open(path) as f:
            cfg = config_from_dict(ClusterContrastConfig, yaml.safe_load(f), path)
        check_config(cfg)
        found[os.path.basename(path)] = cfg
    assert len(found) == 5
    for name in ("market1501_usl.yaml", "market1501_uda.yaml", "msmt17_usl.yaml", "msmt17_uda.yaml"):
        c = found[name]
        assert (c.sampler, c.neck, c.hard, c.k1, c.k2, c.temperature, c.momentum) == ("camera", True, True, 30, 6,
                                                                                     0.05, 0.2)
        assert c.eps == (0.6 if name.startswith("market") else 0.7) and c.p * c.k == 256
