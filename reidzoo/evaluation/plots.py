"""Pictures of an evaluation: the CMC curve and a ranked-results mosaic."""
from __future__ import annotations

from ..atomic import atomic_path
import threading
from typing import Sequence

import numpy as np


def _atomic_write(path: str, write) -> str:
    with atomic_path(path) as tmp:
        write(str(tmp))
    return path


def preload() -> None:
    """Import matplotlib's Figure and Agg canvas in a background thread, so that the import
    overlaps a long computation instead of following it."""
    def imports() -> None:
        from matplotlib.backends import backend_agg  # noqa: F401
        from matplotlib import figure  # noqa: F401
    threading.Thread(target=imports, name="matplotlib-preload", daemon=True).start()


def plot_cmc(cmc: np.ndarray, path: str, title: str = "CMC", label: str = "") -> str:
    """Save the CMC curve (rank 1..len(cmc)) as a PNG."""
    # Figure + Agg canvas directly: no pyplot/GUI backend import (saves a second per run)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    ranks = np.arange(1, len(cmc) + 1)
    fig = Figure(figsize=(5, 3.6), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(ranks, 100 * np.asarray(cmc), marker="o", markersize=2.5, label=label or None)
    text = "\n".join(f"rank-{r}: {100 * cmc[r - 1]:.2f}%" for r in (1, 5, 10) if r <= len(cmc))
    ax.text(0.97, 0.05, text, transform=ax.transAxes, ha="right", va="bottom", fontsize=8,
            bbox=dict(boxstyle="round", facecolor="white", alpha=0.8))
    ax.set_xlabel("rank")
    ax.set_ylabel("matching rate (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if label:
        ax.legend(loc="center right")
    fig.tight_layout()
    return _atomic_write(path, lambda p: fig.savefig(p, format="png"))


def _tile(path: str, size=(128, 64), border: int = 4, colour=(128, 128, 128)) -> np.ndarray:
    import cv2          # here, not at the top: a features-only evaluation never needs OpenCV
    h, w = size
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        img = np.full((h, w, 3), 40, np.uint8)
        cv2.putText(img, "?", (w // 2 - 6, h // 2 + 6), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
    img = cv2.resize(img, (w - 2 * border, h - 2 * border), interpolation=cv2.INTER_AREA)
    return cv2.copyMakeBorder(img, border, border, border, border, cv2.BORDER_CONSTANT, value=colour)


def plot_ranked(query_items: Sequence, gallery_items: Sequence, lists: Sequence[np.ndarray],
                queries: Sequence[int], path: str, k: int = 10) -> str:
    """Mosaic: each row is a query (grey border) and its top-k (green = same person, red = not)."""
    import cv2
    rows = []
    for qi, row in zip(queries, lists):
        qpath, qpid, _ = query_items[qi]
        tiles = [_tile(qpath, colour=(160, 160, 160)), np.full((128, 12, 3), 255, np.uint8)]
        for gi in list(row)[:k]:
            gpath, gpid, _ = gallery_items[gi]
            tiles.append(_tile(gpath, colour=(40, 180, 40) if gpid == qpid else (40, 40, 220)))
        while len(tiles) < k + 2:
            tiles.append(np.full((128, 64, 3), 255, np.uint8))
        rows.append(np.hstack(tiles))
        rows.append(np.full((6, rows[-1].shape[1], 3), 255, np.uint8))
    header = np.full((22, rows[0].shape[1], 3), 255, np.uint8)
    cv2.putText(header, f"query | top-{k} (green: same person, red: different)", (4, 16),
                cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    mosaic = np.vstack([header] + rows)

    def write(p: str) -> None:
        if not cv2.imwrite(p, mosaic, [cv2.IMWRITE_PNG_COMPRESSION, 6]):
            raise OSError(f"could not write {path}")

    return _atomic_write(path, write)
