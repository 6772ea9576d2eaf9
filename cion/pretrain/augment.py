"""Fast multi-crop (DINO's recipe at person-crop sizes): OpenCV on uint8, lookup tables, one RNG per sample.

The photometric steps follow torchvision's ColorJitter / RandomGrayscale and DINO's blur and
solarisation; they run on uint8 arrays with cv2 (LUTs, HSV, Gaussian blur) instead of PIL, and the
crops leave the worker as uint8 so that float conversion and normalisation happen once per batch,
on the training device (`normalize_views`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Sequence, Tuple

import cv2
import numpy as np
import torch

from reidzoo.config_loader import check_ranges

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
_ARANGE = np.arange(256, dtype=np.float32)
_SOLARIZE = np.where(np.arange(256) >= 128, 255 - np.arange(256), np.arange(256)).astype(np.uint8)

cv2.setNumThreads(1)  # one loader worker = one core; cv2's own pool would fight the workers


@dataclass
class MultiCropConfig:
    """Sizes are (height, width); ratio is width/height, as torchvision's RandomResizedCrop."""

    global_size: Tuple[int, int] = (256, 128)
    local_size: Tuple[int, int] = (128, 64)
    local_crops: int = 8
    global_scale: Tuple[float, float] = (0.8, 1.0)
    local_scale: Tuple[float, float] = (0.05, 0.8)
    ratio: Tuple[float, float] = (0.4, 0.6)
    flip_p: float = 0.5
    jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1
    grey_p: float = 0.2
    # DINO: first global view always blurred, second rarely and sometimes solarised, locals half the time
    blur_p: Tuple[float, float, float] = (1.0, 0.1, 0.5)
    solarize_p: Tuple[float, float, float] = (0.0, 0.2, 0.0)
    blur_sigma: Tuple[float, float] = (0.1, 2.0)

    def __post_init__(self) -> None:
        check_ranges(self, minimum=dict(global_size=1, local_size=1, local_crops=0, blur_sigma=0),
                     positive=("global_scale", "local_scale", "ratio"),
                     fraction=("global_scale", "local_scale", "flip_p", "jitter_p", "grey_p", "blur_p", "solarize_p"))

    @property
    def ncrops(self) -> int:
        """Number of views per image (2 global + locals)."""
        return 2 + self.local_crops


def random_resized_crop_box(h: int, w: int, scale: Sequence[float], ratio: Sequence[float],
                            rng: np.random.Generator) -> Tuple[int, int, int, int]:
    """(top, left, height, width) of a crop as torchvision's RandomResizedCrop draws it."""
    area = h * w
    log_r = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        ar = math.exp(rng.uniform(*log_r))
        cw = int(round(math.sqrt(target * ar)))
        ch = int(round(math.sqrt(target / ar)))
        if 0 < cw <= w and 0 < ch <= h:
            top = int(rng.integers(0, h - ch + 1))
            left = int(rng.integers(0, w - cw + 1))
            return top, left, ch, cw
    in_ratio = w / h  # fall back to a centre crop with the ratio clamped
    if in_ratio < ratio[0]:
        cw, ch = w, int(round(w / ratio[0]))
    elif in_ratio > ratio[1]:
        ch, cw = h, int(round(h * ratio[1]))
    else:
        cw, ch = w, h
    return (h - ch) // 2, (w - cw) // 2, ch, cw


def _lut(img: np.ndarray, table: np.ndarray) -> np.ndarray:
    return cv2.LUT(img, np.clip(table, 0, 255).round().astype(np.uint8))


def _grey(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


def color_jitter(img: np.ndarray, cfg: MultiCropConfig, rng: np.random.Generator) -> np.ndarray:
    """torchvision ColorJitter semantics (random factors, random order of the four ops) on uint8 RGB."""
    b = rng.uniform(1 - cfg.brightness, 1 + cfg.brightness)
    c = rng.uniform(1 - cfg.contrast, 1 + cfg.contrast)
    s = rng.uniform(1 - cfg.saturation, 1 + cfg.saturation)
    hshift = rng.uniform(-cfg.hue, cfg.hue)
    for op in rng.permutation(4):
        if op == 0:
            img = _lut(img, _ARANGE * b)
        elif op == 1:
            mean = float(_grey(img).mean())
            img = _lut(img, _ARANGE * c + (1 - c) * mean)
        elif op == 2:
            grey = cv2.cvtColor(_grey(img), cv2.COLOR_GRAY2RGB)
            img = cv2.addWeighted(img, s, grey, 1 - s, 0)
        else:
            hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV_FULL)  # hue in 0..255
            shift = int(round(hshift * 256))
            if shift:
                hsv[..., 0] = cv2.LUT(hsv[..., 0], ((np.arange(256) + shift) % 256).astype(np.uint8))
            img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL)
    return img


class MultiCrop:
    """uint8 RGB image (H,W,3) -> list of 2 global + L local uint8 crops (h,w,3), DINO's recipe."""

    def __init__(self, cfg: MultiCropConfig | None = None):
        self.cfg = cfg or MultiCropConfig()

    def _view(self, img: np.ndarray, size: Tuple[int, int], scale, kind: int,
              rng: np.random.Generator) -> np.ndarray:
        cfg = self.cfg
        top, left, ch, cw = random_resized_crop_box(img.shape[0], img.shape[1], scale, cfg.ratio, rng)
        crop = img[top:top + ch, left:left + cw]
        # area averaging when shrinking (anti-aliased, like PIL's bicubic reduce), cubic when enlarging
        interp = cv2.INTER_AREA if ch >= size[0] and cw >= size[1] else cv2.INTER_CUBIC
        out = cv2.resize(crop, (size[1], size[0]), interpolation=interp)
        if rng.random() < cfg.flip_p:
            out = cv2.flip(out, 1)
        if rng.random() < cfg.jitter_p:
            out = color_jitter(out, cfg, rng)
        if rng.random() < cfg.grey_p:
            out = cv2.cvtColor(_grey(out), cv2.COLOR_GRAY2RGB)
        if rng.random() < cfg.blur_p[kind]:
            sigma = rng.uniform(*cfg.blur_sigma)
            out = cv2.GaussianBlur(out, (0, 0), sigmaX=sigma, sigmaY=sigma)
        if rng.random() < cfg.solarize_p[kind]:
            out = cv2.LUT(out, _SOLARIZE)
        return out

    def __call__(self, img: np.ndarray, rng: np.random.Generator) -> List[np.ndarray]:
        cfg = self.cfg
        views = [self._view(img, cfg.global_size, cfg.global_scale, 0, rng),
                 self._view(img, cfg.global_size, cfg.global_scale, 1, rng)]
        views += [self._view(img, cfg.local_size, cfg.local_scale, 2, rng) for _ in range(cfg.local_crops)]
        return views


def stack_views(samples: List[List[np.ndarray]]) -> List[torch.Tensor]:
    """Per-sample view lists -> one uint8 (B,3,h,w) tensor per view (view-major, as the loss expects)."""
    out = []
    for v in range(len(samples[0])):
        arr = np.stack([s[v] for s in samples])          # (B,h,w,3)
        out.append(torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous())
    return out


def normalize_views(views: torch.Tensor, mean=MEAN, std=STD, dtype=torch.float32) -> torch.Tensor:
    """uint8 (N,3,h,w) -> normalised float (N,3,h,w); done on the training device, once per batch."""
    m = torch.tensor(mean, device=views.device, dtype=dtype).view(1, 3, 1, 1) * 255
    s = torch.tensor(std, device=views.device, dtype=dtype).view(1, 3, 1, 1) * 255
    return (views.to(dtype) - m) / s
