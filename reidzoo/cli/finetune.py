"""Fine-tune a zoo backbone for person re-ID (the BNNeck + ID + triplet strong baseline).

Starts from any zoo name (random or Hub weights), a hub folder, a ReIDZoo release .pth or a
CION pre-training export; trains on Market-1501, MSMT17 or a synthetic Market-format set;
evaluates every N epochs with the project's evaluator; keeps last.pth and writes the last
epoch's backbone as the hub folder RUN/hub. The printed scores are the last epoch's (never an
epoch picked by its test mAP).

With `--recipe release` the run takes the public ReIDZoo release's recipe of --model on --dataset
(market1501 or msmt17; SGD, per-model lr and batch, 120 epochs, soft-margin triplet, ...; see
docs/finetune.md); any other option or --set still overrides it.

Examples:
  reidzoo finetune --recipe release --model convnext_tiny --dataset market1501 --device cuda --out runs/rz_cnt
  reidzoo finetune --recipe mgn --model resnet50_ibn --dataset msmt17 --device cuda --out runs/mgn_msmt
  reidzoo finetune --config configs/finetune/market1501_resnet50_ibn.yaml --out runs/ft_r50
  reidzoo finetune --config configs/finetune/synthetic_smoke.yaml --root runs/synth/market \\
      --init runs/pretrain/export --out runs/ft_synth
  reidzoo finetune --config ... --out runs/ft_r50 --resume        # continue an interrupted run
  reidzoo finetune --config ... --out runs/ft_lr --set lr=1e-4 label_smoothing=0   # any config key
  reidzoo export runs/ft_r50/last.pth --out hub/r50_last          # a hub folder of another checkpoint

Outputs in --out: finetune_config.json, log.jsonl, last.pth, curves.png, hub/ (the last epoch's model).
"""
from __future__ import annotations

import argparse
import json

from .argtypes import device, non_negative_int, number, positive_int

RECIPES = ("release", "mgn")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `reidzoo finetune`."""
    src = p.add_mutually_exclusive_group()
    src.add_argument("--config", help="YAML config (see configs/finetune/)")
    src.add_argument("--recipe", choices=RECIPES,
                     help="start from the release's recipe of --model on --dataset (market1501, msmt17): "
                          "release = the ReIDZoo table's BNNeck baseline, mgn = MGN (ResNet / ResNet-IBN)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--model", help="zoo name, overrides the config")
    p.add_argument("--init", help="initial weights: hub folder, release .pth or pre-training export")
    p.add_argument("--pretrained", action="store_true", help="start from the zoo's Hub weights")
    from reidzoo.data import dataset_names
    p.add_argument("--dataset", help=f"{', '.join(dataset_names())} (reidzoo.data.register_dataset adds yours), "
                                     f"or a folder of your own")
    p.add_argument("--root", help="data root or dataset folder")
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--seed", type=non_negative_int)
    p.add_argument("--train-fraction", type=number(float, above=0, maximum=1),
                   help="few-shot: train on this share of the train identities (a subset seeded by --seed)")
    p.add_argument("--train-ids", type=positive_int, help="few-shot: train on this many train identities")
    p.add_argument("--device", type=device, help="cpu or cuda")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="override any config key, e.g. --set lr=1e-4 steps=[30,50] (docs/configs.md)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--overwrite", action="store_true", help="replace the run in --out")


def run(a: argparse.Namespace) -> int:
    """Train, export the last epoch to RUN/hub and print its scores."""
    from reidzoo.finetune import FinetuneConfig, export_finetuned, finetune, mgn_recipe, release_recipe
    over = dict(model=a.model, init=a.init, dataset=a.dataset, root=a.root, epochs=a.epochs, seed=a.seed,
                device=a.device, pretrained=True if a.pretrained else None,
                train_fraction=a.train_fraction, train_ids=a.train_ids)
    base = None
    if a.recipe:
        if not (a.model and a.dataset):
            raise ValueError(f"--recipe {a.recipe} needs --model and --dataset (market1501 or msmt17)")
        base = (mgn_recipe if a.recipe == "mgn" else release_recipe)(a.model, a.dataset)
    cfg = FinetuneConfig.from_yaml(a.config, a.set, base=base, **over)
    res = finetune(cfg, a.out, resume=a.resume, overwrite=a.overwrite)
    if res["history"] and cfg.method == "mgn":
        print(f"MGN keeps its three branches: no hub folder; `reidzoo export {a.out}/last.pth --format onnx` "
              f"exports the model it evaluated")
    elif res["history"]:
        export_finetuned(f"{a.out}/last.pth", f"{a.out}/hub", overwrite=True)
    print(json.dumps({**res["last"], "run_dir": res["run_dir"]}, indent=2))
    return 0
