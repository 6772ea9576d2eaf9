"""Exact top-k lists: FAISS proposes, the reference distances decide.

k-reciprocal re-ranking depends on each item's k1+1 (and k1/2+1, k2) nearest neighbours, and the
ranked lists (ranked.png, mAP@k) on each query's top k. FAISS finds them in fp32, where near-ties
at the k-th place flip and exact ties come in any order. Here FAISS only proposes a few more
candidates than needed; the candidates are ordered by their reference distances (`exact.py`),
equal distances by index as a stable argsort does. A list is certain when even the farthest
candidate, minus the fp32 error bound, lies beyond the k-th reference distance: then no item
FAISS left out can be nearer or as near. Rows without that certificate (near-ties around the
boundary, heavy exact ties) are searched again with more candidates, and finally computed against
every item.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .exact import COSINE, Reference, gamma64
from .ranking import U32, gamma32
from .retrieval import flat_index

FULL_ROW_FROM = 4096       # candidate lists this long are replaced by a full row of distances


def _row_norms(x: np.ndarray) -> np.ndarray:
    return np.sqrt(np.square(x, dtype=np.float64).sum(1)) * 1.01


def _bound(ref: Reference, qx: np.ndarray, gx: np.ndarray, eps_q: np.ndarray, eps_g: np.ndarray) -> np.ndarray:
    """Per query row: a bound on |FAISS fp32 distance - reference distance| to any gallery row."""
    d = qx.shape[1]
    g = gamma32(d + 4)
    nq, ng_max = _row_norms(qx), float(_row_norms(gx).max())
    if ref.metric == COSINE:
        # qx = q/|q| + eta (|eta| <= eps): FAISS's inner product is within g |qx||gx| of qx.gx,
        # which is within eps_q (1 + eps_g) + eps_g of the cosine; plus the reference's rounding
        e_max = float(eps_g.max())
        return (g * nq * ng_max + eps_q * (1 + e_max) + e_max) * 1.01 + 16 * gamma64(d + 8)
    # FAISS's |x|^2 + |y|^2 - 2 x.y in fp32, and rows centred in fp32 (each element rounded once)
    return (g + 4.2 * U32 + 16 * gamma64(d + 8)) * (nq + ng_max) ** 2 * 1.01


def _full_rows(ref: Reference, rows: np.ndarray, k: int) -> np.ndarray:
    """The first k of each row's stable argsort of reference distances, against every item."""
    n = len(ref.gf)
    out = np.empty((len(rows), k), np.int64)
    every = np.arange(n)
    for r, i in enumerate(rows):
        out[r] = np.argsort(ref.distances(np.full(n, i), every), kind="stable")[:k]
    return out


def exact_topk(qx: np.ndarray, gx: np.ndarray, ref: Reference, k: int, eps_q: Optional[np.ndarray] = None,
               eps_g: Optional[np.ndarray] = None) -> np.ndarray:
    """(Q, k) gallery indices per query in reference order (distance, then index).

    qx, gx are the FAISS vectors of `ref`'s queries and gallery: rows within eps (default: one
    fp32 rounding) of the unit rows for cosine, the rows centred in fp32 for Euclidean."""
    nq, n = len(qx), len(gx)
    k = min(k, n)
    ref.finish()
    eps_q = np.full(nq, 1.01 * U32) if eps_q is None else eps_q
    eps_g = np.full(n, 1.01 * U32) if eps_g is None else eps_g
    index = flat_index(gx, "ip" if ref.metric == COSINE else "l2")
    out = np.empty((nq, k), np.int64)
    todo = np.arange(nq)
    kk = min(n, k + 16 + k // 2)
    while len(todo):
        if kk >= min(n, FULL_ROW_FROM) and kk < n:
            out[todo] = _full_rows(ref, todo, k)
            break
        approx, cand = index.search(np.ascontiguousarray(qx[todo]), kk)
        dist = ref.distances(np.repeat(todo, kk), cand.ravel()).reshape(len(todo), kk)
        order = np.lexsort((cand, dist), axis=-1)
        cand = np.take_along_axis(cand, order, -1)
        dist = np.take_along_axis(dist, order, -1)
        out[todo] = cand[:, :k]
        if kk == n:
            break
        # FAISS left out only items at or beyond its last candidate, in fp32
        last = approx[:, -1].astype(np.float64)
        last = 1.0 - last if ref.metric == COSINE else last
        certain = last - _bound(ref, qx[todo], gx, eps_q[todo], eps_g) > dist[:, k - 1]
        todo = todo[~certain]
        kk = min(n, kk * 4)
    return out


def exact_neighbours(x: np.ndarray, ref: Reference, k: int) -> np.ndarray:
    """(N, k) neighbour lists of the pooled items x (unit rows for cosine, centred rows for
    Euclidean) by the reference over (x, x) itself."""
    ref.finish()
    # against the reference over x itself, a row is |x| - 1 away from its unit row
    eps = np.abs(ref.q_norm - 1.0) + U32 if ref.metric == COSINE else np.zeros(len(x))
    return exact_topk(x, x, ref, k, eps, eps)


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
