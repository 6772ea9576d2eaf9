"""Pictures of the synthetic world: identities across cameras, and video frames with their ground truth."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence, Union

import cv2
import numpy as np

from ...atomic import atomic_write_bytes
from .cameras import make_camera, render_background
from .identities import make_identity
from .market import _SCENE_H, _SCENE_W, render_crop
from .render import VIEWS
from .videos import gt_rows, plan_videos, render_frames

TAG_MOSAIC = 51


def _save_png(img: np.ndarray, path: Union[str, os.PathLike]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise RuntimeError("OpenCV could not encode a PNG")
    atomic_write_bytes(path, buf.tobytes())
    return path


def identity_mosaic(path: Union[str, os.PathLike], seed: int = 0, identities: Sequence[int] = tuple(range(9)),
                    cameras: int = 6, per_camera: int = 2, scale: int = 1) -> Path:
    """PNG grid: one row per identity, ``per_camera`` crops from each camera c1..cN, as the benchmark draws them.

    Rows come in look-alike groups of three (shared colours, different details), labelled on the left.
    """
    cams = [make_camera(seed, c) for c in range(cameras)]
    scenes = [render_background(c, _SCENE_H, _SCENE_W) for c in cams]
    rows = []
    for gid in identities:
        ident = make_identity(seed, gid)
        r = np.random.default_rng([seed, TAG_MOSAIC, gid])
        tiles = []
        for c, cam in enumerate(cams):
            for _ in range(per_camera):
                view = VIEWS[int(r.choice(3, p=np.array(cam.views) / sum(cam.views)))]
                data = render_crop(ident, cam, scenes[c], r, view, float(r.uniform(0, 2 * math.pi)),
                                   int(r.choice([-1, 1])), seed)
                tiles.append(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
            tiles.append(np.full((128, 4, 3), 255, np.uint8))  # gap between cameras
        label = np.full((128, 76, 3), 255, np.uint8)
        cv2.putText(label, f"id {gid}", (4, 56), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(label, f"group {ident.group}", (4, 76), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (90, 90, 90), 1, cv2.LINE_AA)
        rows.append(np.hstack([label] + tiles[:-1]))
        if ident.group != make_identity(seed, gid + 1).group and gid != identities[-1]:
            rows.append(np.full((6, rows[-1].shape[1], 3), 255, np.uint8))  # gap between look-alike groups
    header = np.full((24, rows[0].shape[1], 3), 255, np.uint8)
    step = per_camera * 64 + 4
    for c in range(cameras):
        cv2.putText(header, f"camera c{c + 1}", (76 + c * step + step // 2 - 40, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (0, 0, 0), 1, cv2.LINE_AA)
    img = np.vstack([header] + rows)
    if scale != 1:
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    return _save_png(img, path)


def video_preview(path: Union[str, os.PathLike], seed: int = 0, frames: Sequence[int] = (40, 120, 200),
                  n_videos: int = 2, people_per_video: int = 6, length: int = 240, width: int = 640,
                  height: int = 360) -> Path:
    """PNG of a few frames of the first videos with their gt boxes, labelled track id -> global identity."""
    plans = plan_videos(n_videos, people_per_video, length, seed, width, height)
    grid = []
    for plan in plans:
        records, shots = {}, {}
        for f, (img, rows) in enumerate(render_frames(plan, seed)):
            for tid, box, frac in rows:
                records.setdefault(tid, []).append((f + 1, box, frac))
            if f + 1 in frames:
                shots[f + 1] = img
        gid = {w.track_id: w.identity for w in plan.walks}
        row = []
        for fr in frames:
            img = shots[fr].copy()
            for f, tid, x, y, w, h in gt_rows(records):
                if f == fr:
                    cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), (0, 255, 0), 2)
                    cv2.putText(img, f"{tid}->{gid[tid]}", (x + 2, max(12, y - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                                (0, 255, 0), 1, cv2.LINE_AA)
            cv2.putText(img, f"{plan.name} frame {fr}", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 2,
                        cv2.LINE_AA)
            row.append(img)
            row.append(np.full((height, 6, 3), 255, np.uint8))
        grid.append(np.hstack(row[:-1]))
        grid.append(np.full((6, grid[-1].shape[1], 3), 255, np.uint8))
    img = np.vstack(grid[:-1])
    return _save_png(cv2.resize(img, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA), path)
