"""A hand-crafted re-ID descriptor that needs no training: banded HSV colour histograms.

It is the reference a learned model must beat (a re-ID world solved by colour is too easy), and
the feature offline pipelines can use when no trained re-ID model is available.
"""
from __future__ import annotations

import os
from typing import Sequence, Union

import cv2
import numpy as np

COLOUR_HIST_NAME = "colourhist"
_BINS = (8, 4, 4)  # hue, saturation, value


def colour_histogram(img_bgr: np.ndarray, bands: int = 3) -> np.ndarray:
    """Square-rooted HSV histograms of `bands` horizontal bands (head/torso/legs), L2-normalised."""
    h, w = img_bgr.shape[:2]
    hsv = cv2.cvtColor(np.ascontiguousarray(img_bgr[h // 10: h - h // 10, w // 5: w - w // 5]), cv2.COLOR_BGR2HSV)
    parts = [cv2.calcHist([band], [0, 1, 2], None, list(_BINS), [0, 180, 0, 256, 0, 256]).ravel()
             for band in np.array_split(hsv, bands, axis=0)]
    v = np.concatenate([np.sqrt(p / max(p.sum(), 1.0)) for p in parts]).astype(np.float32)
    return v / max(float(np.linalg.norm(v)), 1e-12)


def colour_histograms(images: Sequence[Union[str, os.PathLike, np.ndarray]], bands: int = 3) -> np.ndarray:
    """(N, bands*128) descriptors of image paths or BGR uint8 arrays; unreadable files give NaN rows."""
    out = np.full((len(images), bands * int(np.prod(_BINS))), np.nan, np.float32)
    for i, im in enumerate(images):
        img = im if isinstance(im, np.ndarray) else cv2.imread(os.fspath(im), cv2.IMREAD_COLOR)
        if img is not None:
            out[i] = colour_histogram(img, bands)
    return out
