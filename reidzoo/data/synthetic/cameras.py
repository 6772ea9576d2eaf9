"""Synthetic cameras: scene background, light and colour cast, and the image degradations of CCTV.

A camera is a pure function of ``(seed, index)``. Its effects (light, white balance, sensor noise,
low resolution, motion blur, JPEG) use integer arithmetic or OpenCV's bit-exact resize, so the
same seed gives the same pixels on every machine.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import cv2
import numpy as np

TAG_CAMERA, TAG_BACKGROUND = 21, 22

_WALLS = np.array([(170, 175, 180), (120, 130, 140), (90, 110, 140), (150, 160, 150), (110, 100, 95),
                   (200, 200, 195), (70, 80, 90), (140, 150, 175)], np.int32)
_FLOORS = np.array([(100, 100, 100), (140, 140, 135), (80, 90, 105), (60, 75, 80), (150, 160, 170),
                    (95, 120, 130)], np.int32)


@dataclass(frozen=True)
class Camera:
    """One fixed camera: what it looks at and how it degrades what it sees."""

    seed: int
    index: int
    horizon: float                  # image row of the far end of the floor, as a fraction of height
    gain: float                     # overall brightness
    cast: Tuple[float, float, float]  # per-channel (B, G, R) white-balance error
    noise: int                      # sensor noise amplitude (grey levels)
    resolution: Tuple[float, float]  # range of effective resolution factors for crops (distance)
    blur: float                     # probability of motion blur on a crop
    jpeg: Tuple[int, int]           # JPEG quality range
    occlusion: float                # probability that a crop is partly occluded
    views: Tuple[float, float, float]  # probabilities of front / back / side views
    misalign: float                 # box misalignment (fraction of the box size)


def make_camera(seed: int, index: int) -> Camera:
    """The camera number ``index`` of the world ``seed``."""
    r = np.random.default_rng([seed, TAG_CAMERA, index])
    # Cameras look along a corridor (front/back) or across a street (side) or in between.
    axis = r.random()
    side = 0.15 + 0.7 * axis
    fb = 1.0 - side
    front_share = r.uniform(0.3, 0.7)
    cast = tuple(float(v) for v in 1.0 + r.uniform(-0.06, 0.06, size=3))
    lo = float(r.uniform(0.3, 0.75))
    q = int(r.integers(45, 90))
    return Camera(
        seed=seed, index=index, horizon=float(r.uniform(0.28, 0.45)), gain=float(r.uniform(0.8, 1.15)),
        cast=cast, noise=int(r.integers(2, 9)), resolution=(lo, min(1.0, lo + 0.35)),
        blur=float(r.uniform(0.05, 0.4)), jpeg=(q, min(95, q + 10)), occlusion=float(r.uniform(0.1, 0.3)),
        views=(fb * front_share, fb * (1 - front_share), side), misalign=float(r.uniform(0.03, 0.08)),
    )


def _smooth_noise(r: np.random.Generator, h: int, w: int, cells: Tuple[int, int], amp: int) -> np.ndarray:
    """Low-frequency texture: a coarse random grid, bit-exactly upscaled, centred on zero."""
    g = r.integers(0, 2 * amp + 1, size=cells).astype(np.uint8)
    return cv2.resize(g, (w, h), interpolation=cv2.INTER_LINEAR_EXACT).astype(np.int16) - amp


def _colour(r: np.random.Generator, base: np.ndarray, spread: int) -> Tuple[int, int, int]:
    return tuple(int(v) for v in np.clip(base + r.integers(-spread, spread + 1, size=3), 0, 255))


def render_background(cam: Camera, height: int, width: int) -> np.ndarray:
    """The camera's empty scene at ``height`` x ``width``: shop fronts and clutter above a floor.

    Scenes are deliberately varied within a camera (several facades, floor materials, objects), so
    that a crop's background says less about its camera than the person in it says about them.
    """
    r = np.random.default_rng([cam.seed, TAG_BACKGROUND, cam.index])
    floor = _FLOORS[r.integers(len(_FLOORS))] + r.integers(-15, 16, size=3)
    hy = int(round(cam.horizon * height))
    img = np.empty((height, width, 3), np.int16)
    img[hy:] = floor
    # Facades side by side, each with its own colour, windows, a door or a shop sign.
    x = 0
    while x < width:
        w = int(r.integers(width // 10, width // 3))
        wall = _WALLS[r.integers(len(_WALLS))]
        col = _colour(r, wall, 25)
        cv2.rectangle(img, (x, 0), (x + w, hy), col, -1)
        dark = _colour(r, np.array([60, 60, 65]), 30)
        if r.random() < 0.6:  # a grid of windows
            nx, ny = int(r.integers(2, 5)), int(r.integers(1, 4))
            cw, ch = w / nx, hy / (ny + 0.6)
            for i in range(nx):
                for j in range(ny):
                    x0, y0 = int(x + cw * (i + 0.2)), int(ch * (j + 0.25))
                    cv2.rectangle(img, (x0, y0), (int(x0 + 0.6 * cw), int(y0 + 0.6 * ch)), dark, -1)
        else:  # a shop window with a sign band
            cv2.rectangle(img, (x + w // 10, hy // 3), (x + 9 * w // 10, hy), dark, -1)
            cv2.rectangle(img, (x + w // 10, hy // 6), (x + 9 * w // 10, hy // 3 - 2), _colour(r, np.array([128, 128, 128]), 90), -1)
        if r.random() < 0.5:  # a door down to the floor
            dx = int(x + r.uniform(0.1, 0.7) * w)
            cv2.rectangle(img, (dx, int(hy * 0.45)), (dx + max(3, w // 6), hy), _colour(r, wall, 60), -1)
        x += w
    # Floor: patches of other paving, then tiles spaced by perspective converging to a vanishing point.
    for _ in range(int(r.integers(1, 4))):
        x0, x1 = sorted(int(v) for v in r.integers(0, width, size=2))
        y0 = int(r.integers(hy, height))
        cv2.rectangle(img, (x0, y0), (x1, height), _colour(r, _FLOORS[r.integers(len(_FLOORS))], 15), -1)
    line_col = tuple(int(v) for v in np.clip(floor - 25, 0, 255))
    vx = int(r.integers(width // 4, 3 * width // 4))
    n_rows = int(r.integers(5, 12))
    for k in range(1, n_rows + 1):
        y = hy + int((height - hy) * (k / n_rows) ** 1.8)
        cv2.line(img, (0, y), (width, y), line_col, 1)
    for k in range(-8, 9):
        cv2.line(img, (vx + k * width // 40, hy), (vx + k * width // 4, height), line_col, 1)
    # Floor clutter: bins, benches, planters, bollards, bicycles.
    for _ in range(int(r.integers(3, 9))):
        y = int(r.integers(hy + 4, height))
        s = 0.25 + 0.75 * (y - hy) / max(1, height - hy)
        w, h = int(s * r.integers(width // 40, width // 8)), int(s * r.integers(height // 20, height // 5))
        x = int(r.integers(0, width))
        kind = r.random()
        col = _colour(r, np.array([110, 110, 110]), 80)
        if kind < 0.4:
            cv2.rectangle(img, (x, y - h), (x + w, y), col, -1)
        elif kind < 0.6:  # a planter with a bush
            cv2.rectangle(img, (x, y - h // 2), (x + w, y), col, -1)
            cv2.ellipse(img, (x + w // 2, y - h // 2), (max(2, w // 2 + 2), max(2, h // 2)), 0, 180, 360,
                        _colour(r, np.array([50, 110, 60]), 25), -1)
        elif kind < 0.8:  # a bicycle
            rad = max(2, h // 3)
            cv2.circle(img, (x, y - rad), rad, col, max(1, rad // 5))
            cv2.circle(img, (x + 3 * rad, y - rad), rad, col, max(1, rad // 5))
            cv2.line(img, (x, y - rad), (x + 3 * rad, y - rad), col, max(1, rad // 4))
        else:  # a bollard
            cv2.rectangle(img, (x, y - h), (x + max(2, w // 4), y), col, -1)
    img += _smooth_noise(r, height, width, (max(2, height // 24), max(2, width // 24)), 14)[..., None]
    img += _smooth_noise(r, height, width, (max(2, height // 3), max(2, width // 3)), 6)[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def light(img: np.ndarray, cam: Camera, extra_gain: float = 1.0) -> np.ndarray:
    """Apply the camera's brightness and white-balance error (integer arithmetic)."""
    g = np.array([int(round(256 * cam.gain * extra_gain * c)) for c in cam.cast], np.uint32)
    return np.minimum((img.astype(np.uint32) * g + 128) >> 8, 255).astype(np.uint8)


def add_noise(img: np.ndarray, rng: np.random.Generator, amp: int) -> np.ndarray:
    """Uniform integer sensor noise of +-amp grey levels."""
    if amp <= 0:
        return img
    n = rng.integers(-amp, amp + 1, size=img.shape, dtype=np.int16)
    return np.clip(img.astype(np.int16) + n, 0, 255).astype(np.uint8)


def low_resolution(img: np.ndarray, factor: float) -> np.ndarray:
    """Simulate a distant person: shrink by ``factor`` and scale back up."""
    if factor >= 0.999:
        return img
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(4, int(round(w * factor))), max(8, int(round(h * factor)))),
                       interpolation=cv2.INTER_LINEAR_EXACT)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR_EXACT)


def motion_blur(img: np.ndarray, length: int, horizontal: bool = True) -> np.ndarray:
    """Average ``length`` shifted copies (exact integer box blur along one axis)."""
    if length <= 1:
        return img
    axis = 1 if horizontal else 0
    pad = [(0, 0)] * img.ndim
    pad[axis] = (length // 2, length - 1 - length // 2)
    p = np.pad(img.astype(np.uint16), pad, mode="edge")
    n = img.shape[axis]
    acc = sum(np.take(p, np.arange(k, k + n), axis=axis) for k in range(length))
    return ((acc + length // 2) // length).astype(np.uint8)


def encode_jpeg(img: np.ndarray, quality: int) -> bytes:
    """JPEG bytes at a fixed quality (libjpeg is deterministic for fixed input and settings)."""
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG image")
    return buf.tobytes()
