"""Write the fine-tuned backbone of a `reidzoo finetune` checkpoint (last.pth) as a hub folder.

The folder (config.json + model.safetensors + README.md model card) loads with `reidzoo.load(DIR)`.
`reidzoo finetune` already writes RUN/hub for its last epoch; this command exports a checkpoint
again (e.g. of a run stopped early). A CION pre-training checkpoint is exported by
`cion pretrain --export CKPT --out DIR`.

Example:
  reidzoo export runs/ft_r50/last.pth --out hub/r50_market_last
"""
from __future__ import annotations

import argparse

ERRORS = (ValueError, KeyError, OSError, RuntimeError)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `reidzoo export`."""
    p.add_argument("checkpoint", help="last.pth of a `reidzoo finetune` run")
    p.add_argument("--out", required=True, help="hub folder to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing non-empty folder")


def run(a: argparse.Namespace) -> int:
    """Export and print how to load the folder."""
    from reidzoo.finetune import export_finetuned
    out = export_finetuned(a.checkpoint, a.out, overwrite=a.overwrite)
    print(f"wrote {out} (load it with reidzoo.load({str(out)!r}))")
    return 0
