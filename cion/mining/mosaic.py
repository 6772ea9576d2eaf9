"""A PNG mosaic of mined tracklets: one row per tracklet, its crops in time order."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from reidzoo.atomic import atomic_path

from cion.mining.tracklets import read_tracklets


def tracklet_mosaic(out: str | Path, png: str | Path, max_tracklets: int = 12, crops_per_row: int = 8,
                    cell: tuple[int, int] = (128, 64), video: str | None = None) -> Path:
    """Draw up to `max_tracklets` of OUT/tracklets.jsonl (the longest-lived ones, of `video` if given) into `png`.

    Each row is one tracklet: its label, then its crops resized to `cell` (h, w) in frame order.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    rows: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for r in read_tracklets(out / "tracklets.jsonl"):
        if video is None or r["video"] == video:
            rows[(r["video"], r["tracklet"])].append(r)
    if not rows:
        raise ValueError(f"{out / 'tracklets.jsonl'} has no tracklets to draw")
    def life(k):
        frames = [r["frame"] for r in rows[k]]
        return max(frames) - min(frames)

    chosen = sorted(rows, key=lambda k: (-len(rows[k]), -life(k), k))[:max_tracklets]
    chosen.sort()
    h, w = cell
    label_w = 0.9  # inches left of the strips for the labels
    strip_w, strip_h = crops_per_row * w / 72, h / 72
    fig_w, fig_h = strip_w + label_w + 0.1, len(chosen) * (strip_h + 0.06) + 0.5
    fig, axes = plt.subplots(len(chosen), 1, figsize=(fig_w, fig_h), squeeze=False)
    fig.subplots_adjust(left=label_w / fig_w, right=1 - 0.1 / fig_w, bottom=0.05 / fig_h, top=1 - 0.45 / fig_h,
                        hspace=0.06 / (strip_h + 0.06) * len(chosen) / max(len(chosen) - 1, 1))
    for ax, key in zip(axes[:, 0], chosen):
        strip = np.full((h, crops_per_row * w, 3), 255, np.uint8)
        items = sorted(rows[key], key=lambda r: r["frame"])[:crops_per_row]
        for i, r in enumerate(items):
            img = cv2.imread(str(out / r["file_path"]))
            if img is not None:
                strip[:, i * w:(i + 1) * w] = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
        ax.imshow(strip[:, :, ::-1])
        ax.set_xticks([])
        ax.set_yticks([])
        ax.text(-6, h / 2, f"{key[0]}\ntracklet {key[1]}\nframes\n{items[0]['frame']}-{items[-1]['frame']}",
                ha="right", va="center", fontsize=8)
    fig.suptitle(f"{len(chosen)} of {len(rows)} mined tracklets, crops in time order", fontsize=10,
                 y=1 - 0.12 / fig_h, va="top")
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=72)
    plt.close(fig)
    return png
