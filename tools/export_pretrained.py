#!/usr/bin/env python
"""Export the teacher backbone of a CION pre-training checkpoint as a ReIDZoo hub folder.

    python tools/export_pretrained.py runs/smoke/checkpoint.pth --name resnet18 --out exports/resnet18
    python -c "import reidzoo; m = reidzoo.load('exports/resnet18')"   # (N,3,256,128) -> (N,D)

The folder holds config.json, model.safetensors and a README.md model card.
"""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="checkpoint.pth written by tools/pretrain.py")
    ap.add_argument("--name", help="zoo model name (default: the one the run trained)")
    ap.add_argument("--out", required=True, help="hub folder to write")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing non-empty folder")
    args = ap.parse_args(argv)
    from cion.pretrain.export import export_teacher
    try:
        out = export_teacher(args.checkpoint, args.out, args.name, overwrite=args.overwrite)
    except (ValueError, FileNotFoundError, FileExistsError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out} (load it with reidzoo.load({str(out)!r}))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
