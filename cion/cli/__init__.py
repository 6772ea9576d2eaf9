"""cion: CION pre-training data and runs: mine tracklets from videos, denoise them into identities, pre-train.

Examples:
  cion quickstart                                         # the whole pipeline on a synthetic world (= make demo)
  cion mine videos/ --out mined/                          # person tracklets (HOG + ByteTrack)
  cion denoise mined/ --model convnext_tiny --out labels/ # cross-video identities (CION-AL annotations)
  cion pretrain --config configs/pretrain/cpu_smoke.yaml  # identity-guided self-distillation
  torchrun --nproc_per_node 8 -m cion pretrain --model resnet50_ibn
  cion pretrain --export runs/cpu_smoke/checkpoint.pth --out exports/ghostnet_1_0
  cion experiment --work runs/experiment --seeds 0 1 2    # does pre-training help? four initialisations

Using, evaluating and fine-tuning the resulting backbones is the `reidzoo` command's.
"""
from __future__ import annotations

import os
from typing import Optional, Sequence, Union

from reidzoo.cli.dispatch import Command, exit_with, run_cli

COMMANDS = (
    Command("mine", "cion.cli.mine", "detect and track people in videos; save tracklet crops"),
    Command("denoise", "cion.cli.denoise", "tracklets -> cross-video identities (CION-AL annotations)"),
    Command("pretrain", "cion.cli.pretrain", "CION pre-training of a zoo backbone; export its teacher"),
    Command("quickstart", "cion.cli.quickstart", "the whole pipeline end to end on a synthetic world"),
    Command("experiment", "cion.cli.experiment", "does CION pre-training help? four initialisations compared"),
)


def main(argv: Optional[Sequence[Union[str, os.PathLike, int, float]]] = None) -> int:
    """Run `cion ARGV...` and return its exit status."""
    return run_cli("cion", __doc__, COMMANDS, argv)


def console() -> None:
    """The `cion` console script."""
    exit_with(main())
