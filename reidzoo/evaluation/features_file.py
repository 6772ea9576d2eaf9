"""Checks of a saved features file beyond array shapes: image paths listed twice, and junk rows.

A features file from `reidzoo extract --dataset` also holds `q_paths` / `g_paths`. An image listed
twice inflates the gallery (or counts a query twice) and one image under two ids makes one of its
ids wrong, so both stop the evaluation. Junk rows (person id -1, Market-1501's "junk" images) are
ignored in the gallery, as that protocol does, unless the caller keeps them.
"""
from __future__ import annotations

import warnings
from typing import Dict, Optional

import numpy as np

from .protocol import EvaluationInputError

JUNK_PID = -1
JUNK_RULE = ("gallery rows with person id -1 (Market-1501 junk) are ignored, as in the Market-1501 protocol; "
             "query rows with id -1 have no match left and are skipped")


def check_paths(arrays: Dict[str, np.ndarray], source: str) -> None:
    """Raise EvaluationInputError if q_paths / g_paths list an image twice or under two ids."""
    for side in ("q", "g"):
        key = f"{side}_paths"
        if key not in arrays:
            continue
        paths = np.asarray(arrays[key]).astype(str)
        pids = np.asarray(arrays[f"{side}_pids"])
        if len(paths) != len(pids):
            raise EvaluationInputError(f"{source}: {key} has {len(paths)} entries but {side}_pids {len(pids)}: "
                                       f"give one path per feature row")
        uniq, first, counts = np.unique(paths, return_index=True, return_counts=True)
        if (counts == 1).all():
            continue
        dup = uniq[counts > 1]
        rows = np.flatnonzero(paths == dup[0])
        ids = sorted({int(pids[r]) for r in rows})
        what = (f"under {len(ids)} different ids {ids}" if len(ids) > 1 else f"{len(rows)} times")
        raise EvaluationInputError(
            f"{source}: {key} lists {dup[0]} {what} (rows {rows[:5].tolist()}); {len(dup)} image(s) appear more "
            f"than once. Each image must appear once with one id: re-extract the features "
            f"(reidzoo extract --dataset ...) or remove the repeated rows")


def ignore_junk(arrays: Dict[str, np.ndarray], keep_junk: bool = False, source: str = "features"
                ) -> tuple[Dict[str, np.ndarray], Optional[dict]]:
    """Drop gallery rows of person id -1 (with a warning); returns the arrays and what was done
    (None when there is no junk)."""
    g_junk = np.asarray(arrays["g_pids"]) == JUNK_PID
    q_junk = np.asarray(arrays["q_pids"]) == JUNK_PID
    if not g_junk.any() and not q_junk.any():
        return arrays, None
    n_g, n_q = int(g_junk.sum()), int(q_junk.sum())
    if keep_junk:
        warnings.warn(f"{source}: {n_g} gallery and {n_q} query row(s) have person id -1 (junk in Market-1501); "
                      f"kept as an ordinary id because keep_junk is set", stacklevel=2)
        return arrays, {"rule": "kept: person id -1 treated as an ordinary id", "gallery_rows": n_g,
                        "query_rows": n_q, "ignored_gallery_rows": 0}
    warnings.warn(f"{source}: ignoring {n_g} gallery row(s) with person id -1 (junk, as the Market-1501 protocol "
                  f"does)" + (f"; {n_q} query row(s) with id -1 have no match and are skipped" if n_q else "")
                  + "; --keep-junk keeps them", stacklevel=2)
    keep = ~g_junk
    out = dict(arrays)
    for k in ("gf", "g_pids", "g_camids", "g_paths"):
        if k in out:
            out[k] = np.asarray(out[k])[keep]
    return out, {"rule": JUNK_RULE, "gallery_rows": n_g, "query_rows": n_q, "ignored_gallery_rows": n_g}
