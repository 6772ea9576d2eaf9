"""Global ground-truth identity of mined crops from a synthetic world (gt/<video>/gt.txt + identities.json).

A crop shows the person whose ground-truth box in the same frame it overlaps most, when that IoU is
at least `iou` (0.3 like the mining purity: it asks *who*, not how well the box fits); a crop that
overlaps nobody enough is junk (identity -1). The per-video track id is mapped to the global
identity through identities.json, so one person seen in several videos gets one label.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict

import numpy as np


def box_iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of boxes given as x, y, w, h."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    ax2, ay2, bx2, by2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _load_gt(path: Path) -> Dict[int, tuple]:
    """{frame (1-based): (track ids, xywh boxes)} from a MOTChallenge gt.txt."""
    if not path.is_file() or path.stat().st_size == 0:
        return {}
    rows = np.loadtxt(path, delimiter=",", ndmin=2, usecols=range(6))
    frames = rows[:, 0].astype(int)
    return {int(f): (rows[frames == f, 1].astype(int), rows[frames == f, 2:6]) for f in np.unique(frames)}


def crop_identities(synthetic_root, video: np.ndarray, frame: np.ndarray, bbox: np.ndarray,
                    iou: float = 0.3) -> np.ndarray:
    """(N,) global identity per crop (-1 = matches no ground-truth person). `frame` is 0-based as mined."""
    root = Path(synthetic_root)
    ids_map = json.loads((root / "identities.json").read_text())
    out = np.full(len(video), -1, np.int64)
    video = np.asarray(video).astype(str)
    for v in np.unique(video):
        gt = _load_gt(root / "gt" / v / "gt.txt")
        mapping = ids_map.get(v, {})
        rows = np.flatnonzero(video == v)
        for f in np.unique(frame[rows]):
            sel = rows[frame[rows] == f]
            if int(f) + 1 not in gt:
                continue
            tids, boxes = gt[int(f) + 1]
            m = box_iou_xywh(bbox[sel], boxes)
            best = m.argmax(1)
            ok = m[np.arange(len(sel)), best] >= iou
            out[sel[ok]] = [mapping.get(str(int(t)), -1) for t in tids[best[ok]]]
    return out
