"""Train a zoo backbone without labels: Cluster Contrast, unsupervised (USL) or domain-adaptive (UDA).

Each epoch clusters the (unlabelled) train split with DBSCAN on k-reciprocal Jaccard distances and
trains against a memory of the cluster centroids (docs/cluster_contrast.md). USL starts from
pre-trained weights (`--pretrained`, `--init`); UDA is the same run on the target dataset with
`--init` the model fine-tuned on the source dataset (e.g. RUN/hub of `reidzoo finetune`).
The printed scores are the starting model's (epoch 0) and the last epoch's.

Examples:
  reidzoo cluster-contrast --config configs/cluster_contrast/market1501_usl.yaml --out runs/usl_market
  reidzoo cluster-contrast --config configs/cluster_contrast/msmt17_usl.yaml --out runs/usl_msmt
  reidzoo finetune --config configs/finetune/market1501_resnet50_ibn.yaml --out runs/ft_market
  reidzoo cluster-contrast --config configs/cluster_contrast/msmt17_uda.yaml --init runs/ft_market/hub \\
      --out runs/uda_market2msmt
  reidzoo cluster-contrast --config configs/cluster_contrast/synthetic_smoke.yaml --root datasets/synthetic_market \\
      --init runs/ft_other_synthetic/hub --out runs/usl_synth      # a CPU run (docs/cluster_contrast.md)

Outputs in --out: finetune_config.json, log.jsonl (per epoch: clusters, outliers, pseudo-label ARI, loss,
mAP...), last.pth.
"""
from __future__ import annotations

import argparse
import json

from .argtypes import device, non_negative_int, number, positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `reidzoo cluster-contrast`."""
    p.add_argument("--config", help="YAML config (see configs/cluster_contrast/)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--model", help="zoo name, overrides the config")
    p.add_argument("--init", help="initial weights (hub folder or release .pth); for UDA the source-fine-tuned model")
    p.add_argument("--pretrained", action="store_true", help="start from the zoo's Hub weights")
    from reidzoo.data import dataset_names
    p.add_argument("--dataset", help=f"the (target) dataset: {', '.join(dataset_names())}, or a folder")
    p.add_argument("--root", help="data root or dataset folder")
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--eps", type=number(float, above=0, maximum=1), help="DBSCAN radius (0.6 Market-1501, 0.7 MSMT17)")
    p.add_argument("--seed", type=non_negative_int)
    p.add_argument("--device", type=device, help="cpu or cuda")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="override any config key, e.g. --set iters=100 k1=20 (docs/cluster_contrast.md)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--overwrite", action="store_true", help="replace the run in --out")


def run(a: argparse.Namespace) -> int:
    """Train and print the starting and last scores."""
    from reidzoo.finetune.cluster_contrast import ClusterContrastConfig, cluster_contrast
    over = dict(model=a.model, init=a.init, dataset=a.dataset, root=a.root, epochs=a.epochs, eps=a.eps, seed=a.seed,
                device=a.device, pretrained=True if a.pretrained else None)
    cfg = ClusterContrastConfig.from_yaml(a.config, a.set, **over)
    res = cluster_contrast(cfg, a.out, resume=a.resume, overwrite=a.overwrite)
    print(json.dumps({"start": res["start"], "last": res["last"], "run_dir": res["run_dir"]}, indent=2))
    return 0
