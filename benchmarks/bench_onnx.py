#!/usr/bin/env python
"""CPU throughput of an exported model under onnxruntime vs. the same model in PyTorch, batch 1 and 64.

Each model (random weights: speed does not depend on them) is exported with
`reidzoo.onnx_export.export_onnx`; both engines run the same preprocessed float batches with the
same number of threads, interleaved R times, and the best time of each is kept, so background
load hurts both alike. Printed per model and batch size: images/s of each and the ratio
onnxruntime / PyTorch (> 1: onnxruntime is faster).

    .venv/bin/python benchmarks/bench_onnx.py [--models resnet50 vit_small] [--threads 1] [--batches 1 64]
"""
import argparse
import tempfile
import time
from pathlib import Path

import torch

import reidzoo
from reidzoo.onnx_export import export_onnx, load_onnx, parity
from reidzoo.transforms import Preprocessing


def best_time(fn, x: torch.Tensor, repeats: int) -> float:
    """The fastest of `repeats` calls of fn(x), after one warm-up call."""
    fn(x)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["resnet50", "vit_small"])
    p.add_argument("--threads", type=int, default=1, help="intra-op threads of both engines")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    print(f"threads {a.threads}, torch {torch.__version__}, best of {a.repeats} (+1 warm-up)")
    print(f"{'model':<16} {'batch':>5} {'PyTorch img/s':>14} {'onnxruntime img/s':>18} {'ratio ort/pt':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.models:
            model = reidzoo.load(name, pretrained=False)
            path = export_onnx(model, Path(tmp) / f"{name}.onnx")
            ort_model = load_onnx(path, threads=a.threads)
            rel = parity(model, ort_model)
            size = Preprocessing.of(model).size

            def torch_run(x: torch.Tensor) -> None:
                with torch.inference_mode():
                    model(x)

            for b in a.batches:
                x = torch.randn(b, 3, *size)
                # interleave the engines: load that comes and goes hits both
                t_pt, t_ort = float("inf"), float("inf")
                for _ in range(a.repeats):
                    t_pt = min(t_pt, best_time(torch_run, x, 1))
                    t_ort = min(t_ort, best_time(ort_model, x, 1))
                print(f"{name:<16} {b:>5} {b / t_pt:>14.1f} {b / t_ort:>18.1f} {t_pt / t_ort:>13.2f}"
                      f"   (parity {rel:.1e})", flush=True)


if __name__ == "__main__":
    main()
