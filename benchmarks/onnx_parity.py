#!/usr/bin/env python
"""ONNX export of all 32 zoo architectures: onnxruntime vs PyTorch on the same random batch.

For each zoo model (random weights, seed 0, its own 256x128 input): export with
`reidzoo.onnx_export.export_onnx` (opset 18, dynamic batch), run the file with onnxruntime
(1 thread) and PyTorch on a random batch of 3, and print max |ort - torch| / max |torch| (the
target: < 1e-4) with the export time, or why the export failed. The table in docs/onnx.md comes
from this script.

    .venv/bin/python benchmarks/onnx_parity.py [--models resnet50 volo_d1] [--out parity.md]
"""
import argparse
import tempfile
import time
from pathlib import Path

import torch

import reidzoo
from reidzoo.onnx_export import export_onnx, load_onnx, parity


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=None, help="default: all 32")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    names = a.models or reidzoo.model_names()
    print("| model | family | max abs diff / max abs y | export (s) |\n|---|---|---|---|", flush=True)
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            torch.manual_seed(0)
            model = reidzoo.load(name, pretrained=False)
            t = time.perf_counter()
            try:
                path = export_onnx(model, Path(tmp) / f"{name}.onnx")
            except Exception as exc:  # report every failure and go on with the next model
                failed += 1
                print(f"| {name} | {reidzoo.get_spec(name).family} | export failed: {exc} | |", flush=True)
                continue
            seconds = time.perf_counter() - t
            rel = parity(model, load_onnx(path, threads=a.threads), batch=3)
            failed += rel >= 1e-4
            print(f"| {name} | {reidzoo.get_spec(name).family} | {rel:.1e} | {seconds:.1f} |", flush=True)
            path.unlink()
    print(f"\n{len(names) - failed} of {len(names)} exported within 1e-4 x max|y|")


if __name__ == "__main__":
    main()
