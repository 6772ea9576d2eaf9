"""Export a model: a fine-tuning checkpoint's backbone as a hub folder, or any model as an ONNX file.

--format hub (default): the backbone of a `reidzoo finetune` checkpoint (last.pth) as a hub folder
(config.json + model.safetensors + README.md model card), loadable with `reidzoo.load(DIR)`.
`reidzoo finetune` already writes RUN/hub for its last epoch; this exports a checkpoint again
(e.g. of a run stopped early). A CION pre-training checkpoint: `cion pretrain --export CKPT --out DIR`.

--format onnx: a zoo name, hub folder, release .pth or fine-tuning last.pth as one ONNX file
((N,3,H,W) preprocessed images -> (N,D) features, N dynamic; a run's checkpoint exports the model
it evaluated, BN neck included when it tested after the neck). Needs `pip install onnx onnxruntime`.
The export is checked against PyTorch with onnxruntime on a random batch and the relative
difference printed; the file loads with `reidzoo.load(FILE)` and runs in `reidzoo evaluate --model FILE`.

Examples:
  reidzoo export runs/ft_r50/last.pth --out hub/r50_market_last
  reidzoo export convnext_tiny --format onnx --out exports/convnext_tiny.onnx
  reidzoo export runs/ft_r50/hub --format onnx --out exports/r50_market.onnx
  reidzoo export runs/ft_r50/last.pth --format onnx --out exports/r50_market.onnx
"""
from __future__ import annotations

import argparse

from .argtypes import positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `reidzoo export`."""
    p.add_argument("source", help="--format hub: last.pth of a `reidzoo finetune` run; --format onnx: that, "
                                  "a zoo name, a hub folder or a release .pth")
    p.add_argument("--out", required=True, help="hub folder (hub) or .onnx file (onnx) to write")
    p.add_argument("--format", choices=("hub", "onnx"), default="hub", help="hub folder (default) or ONNX")
    p.add_argument("--weights", help="onnx: weights for a zoo name (hub folder, .safetensors, release .pth)")
    p.add_argument("--random", action="store_true", help="onnx: a zoo name with random weights (no download)")
    p.add_argument("--opset", type=positive_int, default=18, help="onnx: opset version (default 18; VOLO needs >= 18)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")


def run(a: argparse.Namespace) -> int:
    """Export and print how to load the result."""
    from pathlib import Path
    if a.format == "hub":
        from reidzoo.finetune import export_finetuned
        out = export_finetuned(a.source, a.out, overwrite=a.overwrite)
        print(f"wrote {out} (load it with reidzoo.load({str(out)!r}))")
        return 0
    from reidzoo.loading import check_source
    from reidzoo.onnx_export import export_source
    check_source(a.source, a.weights)
    if Path(a.out).suffix != ".onnx":
        raise ValueError(f"--out {a.out}: an ONNX file name must end in .onnx")
    if Path(a.out).exists() and not a.overwrite:
        raise FileExistsError(f"{a.out} exists; pass --overwrite to replace it")
    out, rel = export_source(a.source, a.out, weights=a.weights, pretrained=not a.random, opset=a.opset)
    print(f"wrote {out}: onnxruntime vs PyTorch max |diff| / max |y| = {rel:.1e} on a random batch "
          f"(load it with reidzoo.load({str(out)!r}))")
    return 0
