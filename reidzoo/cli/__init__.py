"""reidzoo: person re-ID models from the ReIDZoo; evaluate, extract, fine-tune, convert and publish them.

Examples:
  reidzoo zoo list                                            # the 32 models, sizes and paper results
  reidzoo evaluate --model convnext_tiny --dataset market1501 --out runs/eval_convnext
  reidzoo evaluate --features feats.npz --out runs/eval_feats
  reidzoo extract --model resnet50_ibn --dataset market1501 --out feats.npz
  reidzoo finetune --config configs/finetune/market1501_resnet50_ibn.yaml --out runs/ft_r50
  reidzoo cluster-contrast --config configs/cluster_contrast/market1501_usl.yaml --out runs/usl_market
  reidzoo export runs/ft_r50/last.pth --out hub/r50_market
  reidzoo convert ReIDZoo/convnext_tiny.pth --name convnext_tiny --out hub/convnext_tiny
  reidzoo publish hub/convnext_tiny --org my-org --dry-run
  reidzoo synthetic market --out datasets/synthetic_market --seed 0

Pre-training data and runs (mining, denoising, CION pre-training) are the `cion` command's.
"""
from __future__ import annotations

import os
from typing import Optional, Sequence, Union

from .dispatch import Command, exit_with, run_cli

COMMANDS = (
    Command("evaluate", "reidzoo.cli.evaluate", "mAP / CMC / mINP of a zoo model on a dataset, or of saved features"),
    Command("extract", "reidzoo.cli.extract", "features of a dataset's query/gallery or of image files, to .npz"),
    Command("finetune", "reidzoo.cli.finetune", "fine-tune a backbone for re-ID (BNNeck + ID + triplet baseline)"),
    Command("cluster-contrast", "reidzoo.cli.cluster_contrast",
            "train without labels: Cluster Contrast, unsupervised (USL) or domain-adaptive (UDA)"),
    Command("export", "reidzoo.cli.export", "a fine-tuning checkpoint's backbone as a hub folder"),
    Command("zoo", "reidzoo.cli.zoo", "list, measure and describe the zoo's models; write their model cards"),
    Command("convert", "reidzoo.cli.convert", "an original ReIDZoo release .pth as a hub folder"),
    Command("publish", "reidzoo.cli.publish", "upload hub folders to the Hugging Face Hub"),
    Command("synthetic", "reidzoo.cli.synthetic", "generate a synthetic re-ID benchmark or surveillance videos"),
)


def main(argv: Optional[Sequence[Union[str, os.PathLike, int, float]]] = None) -> int:
    """Run `reidzoo ARGV...` and return its exit status."""
    return run_cli("reidzoo", __doc__, COMMANDS, argv)


def console() -> None:
    """The `reidzoo` console script."""
    exit_with(main())
