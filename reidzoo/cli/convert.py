"""Convert an original ReIDZoo release checkpoint (.pth) into a hub folder.

The hub folder (config.json + model.safetensors + README.md model card) loads with
`reidzoo.load(DIR)` and with plain timm (`timm.create_model("local-dir:DIR", pretrained=True)`
after `import reidzoo`).

Example:
  reidzoo convert ReIDZoo/convnext_tiny.pth --name convnext_tiny --out hub/convnext_tiny
"""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `reidzoo convert`."""
    p.add_argument("src", help="release checkpoint (.pth with a 'teacher' state dict)")
    p.add_argument("--name", help="zoo model name (default: the file's args.arch); see `reidzoo zoo list`")
    p.add_argument("--out", required=True, help="hub folder to write (written atomically)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --out")


def run(a: argparse.Namespace) -> int:
    """Convert and print the folder written."""
    from reidzoo.convert import convert_release
    print(f"wrote {convert_release(a.src, a.name, a.out, overwrite=a.overwrite)}")
    return 0
