"""A small CION-AL-format set of textured person-like JPEGs, for smoke runs, tests and benchmarks."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np


def make_toy_cional(root: os.PathLike, n_ids: int = 32, images_per_id: Sequence[int] | int = 6,
                    size: tuple[int, int] = (160, 80), seed: int = 0) -> Path:
    """Write root/images/<id>/<k>.jpg and root/annotations.json; identities differ in colours and stripes."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    counts = [images_per_id] * n_ids if isinstance(images_per_id, int) else list(images_per_id)
    annos = []
    h, w = size
    for pid, n in enumerate(counts):
        top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        stripes = int(rng.integers(2, 9))
        folder = root / "images" / f"{pid:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(n):
            img = np.empty((h, w, 3), np.float32)
            img[: h // 2] = top
            img[h // 2:] = bottom
            img[(np.arange(h) // max(1, h // (2 * stripes))) % 2 == 0] *= 0.7  # identity's stripe pattern
            img += rng.normal(0, 12, img.shape)                                  # per-image texture
            img *= rng.uniform(0.7, 1.3)                                         # per-image lighting
            dx = int(rng.integers(-w // 8, w // 8 + 1))
            img = np.roll(img, dx, axis=1)
            rel = f"images/{pid:05d}/{k:03d}.jpg"
            cv2.imwrite(str(root / rel), np.clip(img, 0, 255).astype(np.uint8))
            annos.append({"file_path": rel, "id": pid})
    (root / "annotations.json").write_text(json.dumps(annos))
    return root
