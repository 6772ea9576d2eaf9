"""Multi-crop throughput: ours (OpenCV, uint8) vs. the torchvision/PIL DINO recipe, on the same JPEGs.

    python benchmarks/bench_augment.py                   # 2 global 256x128 + 8 local 128x64 crops
    python benchmarks/bench_augment.py --images 200

Both pipelines decode the JPEG and end with normalised float tensors for every crop (ours
normalises per batch, as the trainer does). One process, one thread: images/s per core.
"""
from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, ImageFilter, ImageOps
from torchvision import transforms as T

from cion.pretrain.augment import MEAN, STD, MultiCrop, MultiCropConfig, normalize_views, stack_views
from cion.pretrain.data import decode_rgb


class _PILBlur:
    def __init__(self, p):
        self.p = p

    def __call__(self, img):
        if random.random() > self.p:
            return img
        return img.filter(ImageFilter.GaussianBlur(radius=random.uniform(0.1, 2.0)))


class _PILSolarize:
    def __init__(self, p):
        self.p = p

    def __call__(self, img):
        return ImageOps.solarize(img) if random.random() < self.p else img


def dino_pil_recipe(local_crops: int):
    """The torchvision/PIL multi-crop of DINO at person-crop sizes (as CION's release uses it)."""
    ratio = (0.4, 0.6)
    jitter = T.Compose([T.RandomHorizontalFlip(0.5),
                        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
                        T.RandomGrayscale(0.2)])
    norm = T.Compose([T.ToTensor(), T.Normalize(MEAN, STD)])
    bic = T.InterpolationMode.BICUBIC
    g1 = T.Compose([T.RandomResizedCrop((256, 128), (0.8, 1.0), ratio, bic), jitter, _PILBlur(1.0), norm])
    g2 = T.Compose([T.RandomResizedCrop((256, 128), (0.8, 1.0), ratio, bic), jitter, _PILBlur(0.1),
                    _PILSolarize(0.2), norm])
    loc = T.Compose([T.RandomResizedCrop((128, 64), (0.05, 0.8), ratio, bic), jitter, _PILBlur(0.5), norm])
    return lambda img: [g1(img), g2(img)] + [loc(img) for _ in range(local_crops)]


def make_images(folder: Path, n: int, seed: int = 0):
    """Person-crop-like JPEGs of varied sizes (as detector crops are)."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        h = int(rng.integers(160, 400))
        w = int(h * rng.uniform(0.35, 0.55))
        img = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 3)
        p = folder / f"{i:04d}.jpg"
        cv2.imwrite(str(p), img)
        paths.append(str(p))
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=150)
    ap.add_argument("--local-crops", type=int, default=8)
    ap.add_argument("--batch", type=int, default=32, help="images per normalisation batch (ours)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_images(Path(tmp), args.images)
        pil = dino_pil_recipe(args.local_crops)
        ours = MultiCrop(MultiCropConfig(local_crops=args.local_crops))

        def run_pil():
            random.seed(0)
            for p in paths:
                pil(Image.open(p).convert("RGB"))

        def run_ours():
            for s in range(0, len(paths), args.batch):
                samples = [ours(decode_rgb(p), np.random.default_rng(i))
                           for i, p in enumerate(paths[s:s + args.batch])]
                [normalize_views(v) for v in stack_views(samples)]

        def best(fn):
            fn()
            ts = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                fn()
                ts.append(time.perf_counter() - t0)
            return min(ts)

        t_pil, t_ours = best(run_pil), best(run_ours)
    n = len(paths)
    print(f"{n} images, 2 global 256x128 + {args.local_crops} local 128x64 crops each, 1 thread")
    print(f"torchvision/PIL DINO recipe: {n / t_pil:7.1f} images/s per core")
    print(f"ours (OpenCV uint8):         {n / t_ours:7.1f} images/s per core")
    print(f"speed-up {t_pil / t_ours:.2f}x")


if __name__ == "__main__":
    main()
