#!/usr/bin/env python
"""images/s of reidzoo.extract_features vs. calling the bare timm model, same inputs, same run.

For each model both paths embed the same N images (a float tensor, batch size B); each is run
R times interleaved and the best time is kept, so background load hurts both alike.
Target: ours within 5 % of bare timm (ratio >= 0.95), i.e. the wrapper adds no overhead.

    .venv/bin/python benchmarks/bench_extract.py [--models resnet50 convnext_tiny swin_tiny] [--n 128]
"""
import argparse
import time

import timm
import torch

import reidzoo


def bare_timm(model: torch.nn.Module, x: torch.Tensor, bs: int) -> None:
    with torch.no_grad():
        for s in range(0, len(x), bs):
            model(x[s:s + bs])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["resnet50", "convnext_tiny", "swin_tiny"])
    p.add_argument("--n", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    torch.manual_seed(0)
    x = torch.randn(a.n, 3, 256, 128)
    print(f"{'model':16s} {'timm img/s':>11s} {'reidzoo img/s':>14s} {'ratio':>7s}  (torch threads={torch.get_num_threads()})")
    for name in a.models:
        spec = reidzoo.get_spec(name)
        peer = timm.create_model(spec.arch, num_classes=0, **spec.kwargs).eval()
        ours = reidzoo.load(name, pretrained=False)
        ours.load_state_dict(peer.state_dict())
        bare_timm(peer, x[: a.batch_size], a.batch_size)  # warm-up both
        reidzoo.extract_features(ours, x[: a.batch_size], batch_size=a.batch_size, progress=False)
        t_peer, t_ours = [], []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            bare_timm(peer, x, a.batch_size)
            t_peer.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            reidzoo.extract_features(ours, x, batch_size=a.batch_size, progress=False)
            t_ours.append(time.perf_counter() - t0)
        ips_peer, ips_ours = a.n / min(t_peer), a.n / min(t_ours)
        print(f"{name:16s} {ips_peer:11.1f} {ips_ours:14.1f} {ips_ours / ips_peer:7.3f}")


if __name__ == "__main__":
    main()
