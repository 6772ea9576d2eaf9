"""MGN: the architecture as fastreid builds it, the release's solver settings, and a tiny run that learns."""
import pytest
import torch

import reidzoo
from own_identities import train_split
from reidzoo.cli import main as cli
from reidzoo.data.synthetic import make_market_like
from reidzoo.finetune import FinetuneConfig, evaluate_backbone, export_finetuned, finetune, load_run, mgn_recipe
from reidzoo.finetune.mgn import MGNModel
from reidzoo.finetune.model import build_backbone
from reidzoo.finetune.optim import lr_at

SMALL = (96, 32)  # a 6x2 map after layer4: splits into 2 and 3 stripes


def test_mgn_architecture():
    torch.manual_seed(0)
    backbone = reidzoo.load("resnet18", pretrained=False)
    model = MGNModel(backbone, num_classes=5)
    # three branches, each its own copy of layer3[1:] + layer4; the trunk ends with layer3[0]
    assert model.trunk[-1] is backbone.layer3[0] and len(model.branches) == 3
    assert model.branches[1][1][0].conv1.weight.data_ptr() != backbone.layer4[0].conv1.weight.data_ptr()
    torch.testing.assert_close(model.branches[2][1][0].conv1.weight, backbone.layer4[0].conv1.weight)
    assert len(model.heads) == 8 and all(c.out_features == 5 for c in model.classifiers)
    x = torch.randn(4, 3, *SMALL)
    model.train()
    emb, logits = model(x)
    assert [e.shape for e in emb] == [(4, 256)] * 8 and logits[0].shape == (4, 5)
    model.eval()
    with torch.no_grad():
        test = model(x)
    assert test.shape == (4, 8 * 256)
    with pytest.raises(ValueError, match="ResNet"):
        MGNModel(reidzoo.load("ghostnet_0_5", pretrained=False), 5)


def test_mgn_recipe_is_the_release_solver():
    cfg = mgn_recipe("resnet50_ibn", "msmt17")
    assert (cfg.method, cfg.input_size, cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.weight_decay_bias) == \
        ("mgn", (384, 128), "adam", 3.5e-4, 5e-4, 5e-4)
    assert (cfg.p * cfg.k, cfg.k, cfg.epochs, cfg.freeze_iters, cfg.label_smoothing, cfg.triplet_margin) == \
        (64, 16, 60, 10, 0.1, None)
    assert lr_at(cfg, 0) == pytest.approx(3.5e-6) and lr_at(cfg, 10) == lr_at(cfg, 29.9) == 3.5e-4
    assert lr_at(cfg, 60) == pytest.approx(7.7e-7) and cfg.bias_lr_factor == 1 and not cfg.triplet_normalize


@pytest.fixture(scope="module")
def mgn_run(tmp_path_factory):
    """A tiny MGN run (resnet18, random init, 8 epochs of 2 iterations), stopped after its frozen epoch once."""
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("mgn")
    make_market_like(tmp / "market", n_ids_train=8, n_ids_test=4, cameras=2, images_per_id=4, seed=2, progress=False)
    cfg = FinetuneConfig(**{**mgn_recipe("resnet18", "market1501").to_dict(),
                            "dataset": "synthetic", "root": str(tmp / "market"), "pretrained": False,
                            "input_size": SMALL, "epochs": 8, "p": 4, "k": 4, "warmup_epochs": 1, "delay_epochs": 0,
                            "freeze_iters": 2, "max_iters_per_epoch": 2, "lr": 1e-3, "num_workers": 0,
                            "batch_size_eval": 16, "eval_every": 8})
    torch.manual_seed(cfg.seed)  # the weights finetune() starts from (it seeds, builds the backbone, then MGN)
    backbone = build_backbone(cfg)
    start = {k: v.clone() for k, v in backbone.state_dict().items()}
    initial = MGNModel(backbone, 8)
    start["heads.0.reduce.weight"] = initial.heads[0].reduce.weight.detach().clone()
    own = train_split(tmp / "market")
    start["mAP_own"] = evaluate_backbone(initial.eval(), own, cfg, progress=False)["mAP"]
    finetune(cfg, tmp / "run", progress=False, stop_after_epochs=1)
    after_freeze = torch.load(tmp / "run" / "last.pth", weights_only=True)["model"]
    res = finetune(cfg, tmp / "run", progress=False, resume=True)
    after_freeze["mAP_own"] = evaluate_backbone(load_run(tmp / "run" / "last.pth").model, own, cfg,
                                                progress=False)["mAP"]
    return tmp, start, after_freeze, res["history"]


def test_tiny_mgn_run_freezes_then_learns(mgn_run):
    tmp, start, frozen, hist = mgn_run
    # the first epoch's 2 iterations are all frozen: trunk and branch weights unchanged, heads moved
    torch.testing.assert_close(frozen["trunk.0.weight"], start["conv1.weight"], rtol=0, atol=0)
    torch.testing.assert_close(frozen["branches.0.1.0.conv1.weight"], start["layer4.0.conv1.weight"], rtol=0, atol=0)
    assert not torch.equal(frozen["heads.0.reduce.weight"], start["heads.0.reduce.weight"])
    # loss = mean CE over the 8 heads (ln 8 = 2.08 at chance) + mean soft-margin triplet over 5 terms
    assert hist[-1]["loss"] < hist[0]["loss"] - 0.3, [round(h["loss"], 3) for h in hist]
    assert hist[-1]["id"] < hist[0]["id"] and "mAP" in hist[-1]
    # and the 2048-d MGN feature ranks the run's own training identities better than at the start
    assert frozen["mAP_own"] > start["mAP_own"] + 0.05, (start["mAP_own"], frozen["mAP_own"])


def test_mgn_run_exports_as_onnx_not_as_hub_folder(mgn_run):
    tmp = mgn_run[0]
    run = load_run(tmp / "run" / "last.pth")
    assert isinstance(run.model, MGNModel) and run.epochs_done == 8
    with pytest.raises(ValueError, match="MGN"):
        export_finetuned(tmp / "run" / "last.pth", tmp / "hub")
    pytest.importorskip("onnxruntime")
    assert cli(["export", str(tmp / "run" / "last.pth"), "--format", "onnx", "--out", str(tmp / "mgn.onnx")]) == 0
    exported = reidzoo.load(tmp / "mgn.onnx")
    x = torch.randn(2, 3, *SMALL)
    with torch.no_grad():
        want = run.model(x)
    got = exported(x)
    assert got.shape == (2, 8 * 256) and exported.info["finetune"]["epochs_done"] == 8
    torch.testing.assert_close(got, want, rtol=0, atol=1e-4 * float(want.abs().max()))
