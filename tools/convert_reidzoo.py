#!/usr/bin/env python
"""Convert an original ReIDZoo release checkpoint (.pth) into a hub folder.

The hub folder (config.json + model.safetensors + README.md model card) loads with
`reidzoo.load(DIR)` and with plain timm (`timm.create_model("local-dir:DIR", pretrained=True)`
after `import reidzoo`).

Example:
    tools/convert_reidzoo.py ReIDZoo/convnext_tiny.pth --name convnext_tiny --out hub/convnext_tiny
"""
import argparse
import sys

from reidzoo.convert import convert_release


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", help="release checkpoint (.pth with a 'teacher' state dict)")
    p.add_argument("--name", help="zoo model name (default: the file's args.arch); see tools/zoo.py list")
    p.add_argument("--out", required=True, help="hub folder to write (written atomically)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --out")
    a = p.parse_args(argv)
    try:
        out = convert_release(a.src, a.name, a.out, overwrite=a.overwrite)
    except (ValueError, KeyError, FileNotFoundError, FileExistsError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
