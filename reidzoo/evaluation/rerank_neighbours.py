"""Exact neighbour lists for re-ranking: FAISS proposes, the reference distances decide.

k-reciprocal re-ranking depends on each item's k1+1 (and k1/2+1, k2) nearest neighbours. FAISS
finds them in fp32, where near-ties at the k-th place flip and change whole k-reciprocal sets.
Here FAISS only proposes a few more candidates than needed; the candidates are ordered by their
reference distances (`exact.py`), equal distances by index as a stable argsort does. The list is
certain when even the farthest candidate, minus the fp32 error bound, lies beyond the k-th
reference distance: then no item FAISS left out can be nearer or as near. Rows without that
certificate (near-ties around the boundary, heavy exact ties) are searched again with more
candidates, and finally computed against every item.
"""
from __future__ import annotations

import numpy as np

from .exact import COSINE, Reference
from .ranking import gamma32
from .retrieval import flat_index

U32 = 2.0 ** -24
FULL_ROW_FROM = 4096       # candidate lists this long are replaced by a full row of distances


def _bound(ref: Reference, rows: np.ndarray) -> np.ndarray:
    """Per row: a bound on |FAISS fp32 distance - reference distance| to any item."""
    d = ref.qf.shape[1]
    g = gamma32(d + 4)
    n_max = float(ref.g_norm.max())
    n = ref.q_norm[rows]
    if ref.metric == COSINE:
        # FAISS's inner product is within g |x||y| of x.y; the reference divides by the norms
        n_min = float(ref.g_norm.min())
        scale = np.maximum(np.abs(1 - 1 / (n * n_min)), np.abs(1 - 1 / (n * n_max)))
        return (g + scale) * n * n_max * 1.01 + 1e-15
    # FAISS's |x|^2 + |y|^2 - 2 x.y in fp32; ref.q_offset holds |x|^2 (the pooled set is centred)
    norm = np.sqrt(ref.q_offset)
    return (g + 4 * U32) * (norm[rows] + norm.max()) ** 2 * 1.01 + 1e-15


def _full_rows(ref: Reference, rows: np.ndarray, k: int) -> np.ndarray:
    """The first k of each row's stable argsort of reference distances, against every item."""
    n = len(ref.gf)
    out = np.empty((len(rows), k), np.int64)
    every = np.arange(n)
    for r, i in enumerate(rows):
        out[r] = np.argsort(ref.distances(np.full(n, i), every), kind="stable")[:k]
    return out


def exact_neighbours(x: np.ndarray, ref: Reference, k: int) -> np.ndarray:
    """(N, k) neighbour lists of the pooled items x (FAISS vectors: unit rows for cosine, centred
    rows for Euclidean), in reference order: distance, then index. `ref` is over (x, x)."""
    n = len(x)
    k = min(k, n)
    ref.finish()
    index = flat_index(x, "ip" if ref.metric == COSINE else "l2")
    out = np.empty((n, k), np.int64)
    todo = np.arange(n)
    kk = min(n, k + 16 + k // 2)
    while len(todo):
        if kk >= min(n, FULL_ROW_FROM) and kk < n:
            out[todo] = _full_rows(ref, todo, k)
            break
        approx, cand = index.search(np.ascontiguousarray(x[todo]), kk)
        dist = ref.distances(np.repeat(todo, kk), cand.ravel()).reshape(len(todo), kk)
        order = np.lexsort((cand, dist), axis=-1)
        cand = np.take_along_axis(cand, order, -1)
        dist = np.take_along_axis(dist, order, -1)
        out[todo] = cand[:, :k]
        if kk == n:
            break
        # FAISS left out only items at or beyond its last candidate, in fp32
        last = 1.0 - approx[:, -1].astype(np.float64) if ref.metric == COSINE else approx[:, -1].astype(np.float64)
        certain = last - _bound(ref, todo) > dist[:, k - 1]
        todo = todo[~certain]
        kk = min(n, kk * 4)
    return out


def farthest(x: np.ndarray, ref: Reference) -> np.ndarray:
    """Each pooled item's largest reference distance, at the item FAISS finds farthest."""
    n = len(x)
    if ref.metric == COSINE:
        _, far = flat_index(x, "ip").search(np.ascontiguousarray(-x), 1)     # max of -cos = min cos
    else:
        sq = np.square(x.astype(np.float64)).sum(1)
        # farthest point: max_j |x_j|^2 - 2 x.x_j, an inner product search with augmented vectors
        db = np.hstack([x, sq.astype(np.float32)[:, None]])
        qv = np.hstack([-2.0 * x, np.ones((n, 1), np.float32)])
        _, far = flat_index(db, "ip").search(np.ascontiguousarray(qv, dtype=np.float32), 1)
    return np.maximum(ref.distances(np.arange(n), far[:, 0]), 1e-12)
