#!/usr/bin/env python
"""images/s of reidzoo.extract_features vs. calling the bare timm model, same inputs, same run.

For each model both paths embed the same N images (batch size B); each is run R times
interleaved and the best time is kept, so whatever slows the machine slows both alike.
With `--inputs tensor` (default) both get the same preprocessed float tensor: the target is ours
within 5 % of bare timm (ratio >= 0.95), i.e. the wrapper adds no overhead. With `--inputs paths`,
`pil` or `arrays`, reidzoo decodes/resizes/normalises Market-sized JPEGs (HxW, default 128x64)
while bare timm still gets the ready tensor, so 1 - ratio is the share of time spent preprocessing.

    .venv/bin/python benchmarks/bench_extract.py [--models resnet50 convnext_tiny swin_tiny] [--n 128]
    .venv/bin/python benchmarks/bench_extract.py --models ghostnet_1_0 resnet50 --inputs paths
"""
import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import timm
import torch
from PIL import Image

import reidzoo


def bare_timm(model: torch.nn.Module, x: torch.Tensor, bs: int) -> None:
    with torch.no_grad():
        for s in range(0, len(x), bs):
            model(x[s:s + bs])


def make_inputs(kind: str, n: int, hw, folder: Path):
    """N smooth random person-sized images as JPEG paths, PIL images or RGB uint8 arrays."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        img = cv2.GaussianBlur(rng.integers(0, 256, (*hw, 3), dtype=np.uint8), (5, 5), 1.5)
        paths.append(str(folder / f"{i:05d}.jpg"))
        cv2.imwrite(paths[-1], img)
    if kind == "paths":
        return paths
    pil = [Image.open(p).convert("RGB") for p in paths]
    return pil if kind == "pil" else [np.asarray(im) for im in pil]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["resnet50", "convnext_tiny", "swin_tiny"])
    p.add_argument("--n", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--inputs", choices=("tensor", "paths", "pil", "arrays"), default="tensor",
                   help="what extract_features gets (bare timm always gets the ready tensor)")
    p.add_argument("--image-size", type=int, nargs=2, default=(128, 64), metavar=("H", "W"),
                   help="size of the generated JPEGs for --inputs paths/pil/arrays")
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader workers for --inputs paths")
    a = p.parse_args()
    torch.manual_seed(0)
    x = torch.randn(a.n, 3, 256, 128)
    tmp = tempfile.TemporaryDirectory()
    inputs = x if a.inputs == "tensor" else make_inputs(a.inputs, a.n, a.image_size, Path(tmp.name))
    kw = dict(batch_size=a.batch_size, progress=False, num_workers=a.num_workers)
    print(f"{'model':16s} {'timm img/s':>11s} {'reidzoo img/s':>14s} {'ratio':>7s}  "
          f"(inputs={a.inputs}, torch threads={torch.get_num_threads()})")
    for name in a.models:
        spec = reidzoo.get_spec(name)
        peer = timm.create_model(spec.arch, num_classes=0, **spec.kwargs).eval()
        ours = reidzoo.load(name, pretrained=False)
        ours.load_state_dict(peer.state_dict())
        bare_timm(peer, x[: a.batch_size], a.batch_size)  # warm-up both
        reidzoo.extract_features(ours, inputs[: a.batch_size], **kw)
        t_peer, t_ours = [], []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            bare_timm(peer, x, a.batch_size)
            t_peer.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            reidzoo.extract_features(ours, inputs, **kw)
            t_ours.append(time.perf_counter() - t0)
        ips_peer, ips_ours = a.n / min(t_peer), a.n / min(t_ours)
        print(f"{name:16s} {ips_peer:11.1f} {ips_ours:14.1f} {ips_ours / ips_peer:7.3f}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
