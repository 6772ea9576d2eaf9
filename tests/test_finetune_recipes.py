"""The ReIDZoo release recipes: all 64 equal the release table, and the pieces they need behave as the release's."""
import csv
import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch
from timm.layers import DropPath

import reidzoo
from reidzoo.cli import main as cli
from reidzoo.data.synthetic import make_market_like
from reidzoo.finetune import FinetuneConfig, RecipeError, load_run, release_pairs, release_recipe
from reidzoo.finetune.model import BNNeckModel, architecture_overrides, build_backbone
from reidzoo.finetune.optim import build_optimizer, build_schedule, lr_at, param_groups
from reidzoo.models.registry import model_names

FIXTURE = Path(__file__).parent / "fixtures" / "recipes" / "finetune_recipes_release.csv"


def _size(c: FinetuneConfig) -> str:
    return f"{c.input_size[0]}x{c.input_size[1]}"


def _words(values) -> str:
    return " ".join(f"{v:g}" for v in values)


# Every column of the release table, read back from the config: a column missing here fails the test.
COLUMNS = {
    "dataset": lambda c: c.dataset,
    "model": lambda c: c.model,
    "optimizer": lambda c: c.optimizer.upper(),
    "base_lr": lambda c: c.lr,
    "ims_per_batch": lambda c: c.p * c.k,
    "num_instance": lambda c: c.k,
    "max_epochs": lambda c: c.epochs,
    "warmup_epochs": lambda c: c.warmup_epochs,
    "warmup_method": lambda c: {"timm_cosine": "cosine"}[c.schedule],
    "weight_decay": lambda c: c.weight_decay,
    "weight_decay_bias": lambda c: c.weight_decay_bias,
    "bias_lr_factor": lambda c: c.bias_lr_factor,
    "momentum": lambda c: c.momentum,
    "id_loss": lambda c: "softmax" if c.id_weight > 0 else None,
    "label_smooth": lambda c: "on" if c.label_smoothing > 0 else "off",
    "metric_loss": lambda c: "triplet" if c.triplet_weight > 0 else None,
    "triplet_soft_margin": lambda c: str(c.triplet_margin is None),
    "center_loss": lambda c: "no",  # the fine-tuner has no centre loss: a recipe asking for one fails to build
    "size_train": _size,
    "size_test": _size,
    "flip_prob": lambda c: c.flip,
    "random_erasing_prob": lambda c: c.erasing,
    "padding": lambda c: c.pad,
    "pixel_mean": lambda c: _words(c.pixel_mean),
    "pixel_std": lambda c: _words(c.pixel_std),
    "stride_size": lambda c: "" if c.stride_size is None else f"{c.stride_size[0]}x{c.stride_size[1]}",
    "stem_conv": lambda c: str(c.stem_conv),
    "neck": lambda c: "bnneck",  # BNNeckModel is the only supervised head besides MGN
    "neck_feat_at_test": lambda c: c.test_feature,
    "feat_norm_at_test": lambda c: "yes" if c.test_normalize else "no",
    "last_stride": lambda c: c.last_stride,
    "drop_path": lambda c: c.drop_path,
}


def _same(csv_text: str, value) -> bool:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(csv_text) == float(value)
    return csv_text == value


def test_all_64_release_recipes_equal_the_release_table():
    with FIXTURE.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 64 and set(rows[0]) == set(COLUMNS)
    assert sorted(release_pairs()) == sorted((r["model"].replace("edgenext_xsmall", "edgenext_x_small"), r["dataset"])
                                             for r in rows)
    assert {m for m, _ in release_pairs()} == set(model_names())  # all 32 zoo models, both datasets
    for row in rows:
        cfg = release_recipe(row["model"], row["dataset"])
        wrong = {col: (row[col], read(cfg)) for col, read in COLUMNS.items()
                 if col != "model" and not _same(row[col], read(cfg))}
        assert not wrong, (row["model"], row["dataset"], wrong)
        assert cfg.pretrained and cfg.optimizer == "sgd" and not cfg.nesterov and not cfg.triplet_normalize
        assert cfg.erasing_fill == "noise" and cfg.eval_every == cfg.epochs


def test_release_spelling_and_unknown_pairs():
    assert release_recipe("edgenext_xsmall", "msmt17") == release_recipe("edgenext_x_small", "msmt17")
    assert release_recipe("ghostnet_0_5", "market1501").warmup_epochs == 40  # the one row that differs
    with pytest.raises(RecipeError, match="market1501, msmt17"):
        release_recipe("resnet50", "dukemtmc")
    with pytest.raises(RecipeError, match="resnet50_ibn"):
        release_recipe("resnet51", "market1501")


def _timm_cosine(base: float, t: int, epochs: int, warmup: int, init: float, low: float) -> float:
    # timm's CosineLRScheduler (t_in_epochs, one cycle) as the release steps it: t = epoch + 1
    if t < warmup:
        return init + t * (base - init) / warmup
    if t >= epochs:
        return low
    return low + 0.5 * (base - low) * (1 + math.cos(math.pi * t / epochs))


class TinyBackbone(torch.nn.Sequential):
    """A linear 'backbone' with a Swin-like bias table: enough for the optimizer's grouping."""

    num_features = 6
    pretrained_cfg = {}

    def __init__(self):
        super().__init__(torch.nn.Linear(4, 6), torch.nn.ReLU())
        self.relative_position_bias_table = torch.nn.Parameter(torch.zeros(2))


def test_release_optimizer_groups_and_schedule():
    cfg = release_recipe("swin_tiny", "market1501")
    model = BNNeckModel(TinyBackbone(), 3)
    groups = param_groups(model, cfg)
    opt = build_optimizer(groups, cfg)
    by_name = {n: g for g in opt.param_groups for n, p in model.named_parameters() if any(p is q for q in g["params"])}
    # the release's rule: every parameter whose name holds "bias" (Swin's bias tables too) gets 2x lr
    assert by_name["backbone.0.bias"]["lr_factor"] == 2 and by_name["backbone.relative_position_bias_table"]["lr_factor"] == 2
    assert by_name["backbone.0.weight"]["lr_factor"] == 1 and by_name["classifier.weight"]["lr_factor"] == 1
    assert "neck.bias" not in by_name  # the BNNeck's bias is frozen
    assert all(g["weight_decay"] == 1e-4 and g["momentum"] == 0.9 and not g["nesterov"] for g in opt.param_groups)
    set_lr = build_schedule(cfg, opt)
    b, init, low = cfg.lr, 0.01 * cfg.lr, 0.002 * cfg.lr
    for epoch in (0, 1, 18, 19, 20, 60, 118, 119):
        set_lr(epoch + 0.5)
        for name, factor in (("backbone.0.weight", 1), ("backbone.0.bias", 2)):
            want = _timm_cosine(factor * b, epoch + 1, 120, 20, init, low)
            assert by_name[name]["lr"] == pytest.approx(want, rel=1e-12), (epoch, name)


def test_our_schedule_warmup_factor_and_delay():
    cfg = FinetuneConfig(lr=1.0, epochs=60, warmup_epochs=10, warmup_factor=0.01, delay_epochs=30, min_lr=7.7e-7)
    assert lr_at(cfg, 0) == pytest.approx(0.01) and lr_at(cfg, 5) == pytest.approx(0.505)
    assert lr_at(cfg, 10) == lr_at(cfg, 29.9) == 1.0  # held until the delay ends
    assert lr_at(cfg, 45) == pytest.approx(7.7e-7 + 0.5 * (1 - 7.7e-7))
    assert lr_at(cfg, 60) == pytest.approx(7.7e-7)
    old = FinetuneConfig(lr=1.0, epochs=20, warmup_epochs=10)  # the defaults keep the former schedule
    assert lr_at(old, 0) == pytest.approx(0.1) and lr_at(old, 15) == pytest.approx(1e-6 + 0.5 * (1 - 1e-6))


def test_architecture_settings_of_the_recipes(recwarn):
    vit = release_recipe("vit_tiny", "market1501")
    assert architecture_overrides(vit) == {"drop_path_rate": 0.1}
    assert any("conv stem" in str(w.message) for w in recwarn)  # stem_conv False cannot drop the zoo's stem
    assert architecture_overrides(release_recipe("resnet50", "msmt17")) == {"last_stride": 1}
    assert architecture_overrides(release_recipe("ghostnet_1_0", "msmt17")) == {}
    with pytest.raises(ValueError, match="overlapping"):
        architecture_overrides(FinetuneConfig(model="vit_small", stride_size=(12, 12)))
    backbone = build_backbone(FinetuneConfig(model="vit_tiny", pretrained=False, drop_path=0.1,
                                             pixel_mean=(0.5, 0.5, 0.5), pixel_std=(0.5, 0.5, 0.5)))
    assert sum(isinstance(m, DropPath) for m in backbone.modules()) > 0
    assert backbone.pretrained_cfg["mean"] == [0.5] * 3
    with pytest.raises(ValueError, match="takes only 256x128"):
        build_backbone(FinetuneConfig(model="vit_tiny", pretrained=False, input_size=(384, 128)))


def test_release_recipe_runs_from_the_command_line(tmp_path, capsys):
    torch.set_num_threads(1)
    root = tmp_path / "market"
    make_market_like(root, n_ids_train=8, n_ids_test=4, cameras=2, images_per_id=4, seed=1, progress=False)
    out = tmp_path / "run"
    with pytest.warns(UserWarning, match="after the BN neck"):  # the hub folder cannot carry the neck
        code = cli(["finetune", "--recipe", "release", "--model", "ghostnet_0_5", "--dataset", "market1501",
                    "--out", str(out), "--set", "dataset=synthetic", f"root={root}", "pretrained=false",
                    "epochs=2", "p=4", "max_iters_per_epoch=2", "num_workers=0", "batch_size_eval=16",
                    "test_feature=after"])
    assert code == 0
    cfg = json.loads((out / "finetune_config.json").read_text())
    assert cfg["optimizer"] == "sgd" and cfg["lr"] == 0.0002 and cfg["warmup_epochs"] == 40
    assert cfg["triplet_margin"] is None and cfg["label_smoothing"] == 0.0 and cfg["test_feature"] == "after"
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert len(log) == 2 and all(math.isfinite(r["loss"]) for r in log) and "mAP" in log[-1]
    hub = json.loads((out / "hub" / "config.json").read_text())
    assert hub["pretrained_cfg"]["mean"] == [0.5] * 3 and hub["pretrained_cfg"]["std"] == [0.5] * 3
    assert cli(["finetune", "--recipe", "release", "--model", "resnet50", "--out", str(tmp_path / "x")]) == 2
    assert "--model and --dataset" in capsys.readouterr().err
    if importlib.util.find_spec("onnxruntime") is None:
        return
    # the ONNX export of the run is the model it evaluated: BN neck included (test_feature=after), mean/std 0.5
    assert cli(["export", str(out / "last.pth"), "--format", "onnx", "--out", str(tmp_path / "run.onnx")]) == 0
    run, exported = load_run(out / "last.pth"), reidzoo.load(tmp_path / "run.onnx")
    assert exported.pretrained_cfg["mean"] == [0.5] * 3 and run.model.test_feature == "after"
    x = torch.randn(2, 3, 256, 128)
    with torch.no_grad():
        want = run.model(x)
    torch.testing.assert_close(exported(x), want, rtol=0, atol=1e-4 * float(want.abs().max()))
