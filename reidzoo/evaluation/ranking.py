"""Exact per-positive ranks without a Q x G sort: counts of negatives ranked above each positive.

The ranks are those of the reference order of `exact.py`: distances in float64 computed in a fixed
order, equal distances ordered by gallery index (a stable argsort). Two engines produce them:

* ``fp32`` (here): blocks of fp32 scores from one matmul, each within a proven error bound e of
  the exact score. Per query only gallery items that can reach its weakest positive are looked at.
  An item whose score x is certainly above (t < x - e) or below (t > x + e) each positive's score t
  is counted from x; an item that the bound leaves next to a positive gets its reference distance,
  and its place among the positives follows the tie rule.
* ``bf16`` (`ranking_bf16.py`): the same counting after a bf16 pass, with one more fp32 step.

Scores are "higher is better": the cosine similarity, or q.g - |g|^2 / 2 on features centred at
the gallery mean for Euclidean distance (the same order as the squared distance).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
from tqdm.auto import tqdm

from .exact import EUCLIDEAN, Reference, count_many
from .protocol import Positives

U32 = 2.0 ** -24          # fp32 unit roundoff


def gamma32(n: int) -> float:
    """The fp32 error factor of an n-term dot product in any order: n u / (1 - n u)."""
    return n * U32 / (1 - n * U32)


def _tensor(x: np.ndarray) -> torch.Tensor:
    """A float32 tensor over x without copying it; x may be a read-only memory map (never written)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def gallery_centre(gf: np.ndarray) -> np.ndarray:
    """The float32 centre Euclidean engines subtract (the gallery mean): distances do not change
    under translation, and centring avoids fp32 cancellation in |q|^2 + |g|^2 - 2 q.g."""
    return np.mean(gf, axis=0, dtype=np.float64).astype(np.float32)


def centred(x: np.ndarray, centre: np.ndarray, chunk: int = 8192) -> torch.Tensor:
    """fp32(x - centre): one rounding per element (the bound's centring term assumes that)."""
    c = torch.from_numpy(centre)
    xt = _tensor(x)
    out = torch.empty(xt.shape)
    for s in range(0, len(xt), chunk):
        torch.sub(xt[s:s + chunk], c, out=out[s:s + chunk])
    return out


def prepare_features(qf: np.ndarray, gf: np.ndarray, metric: str):
    """(q, g, w): fp32 tensors (L2-normalised for cosine, centred for Euclidean) and the
    per-gallery score offset |g|^2 / 2 (float64; zeros for cosine)."""
    if metric not in ("cosine", "euclidean"):
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    if metric == "cosine":
        q = torch.nn.functional.normalize(_tensor(qf), dim=1)
        g = torch.nn.functional.normalize(_tensor(gf), dim=1)
        return q, g, np.zeros(len(g), np.float64)
    centre = gallery_centre(gf)
    q, g = centred(qf, centre), centred(gf, centre)
    return q, g, half_squared_norms(g)


def half_squared_norms(g: torch.Tensor, chunk: int = 8192) -> np.ndarray:
    """|g|^2 / 2 per row in float64, in chunks."""
    return np.concatenate([0.5 * g[s:s + chunk].double().square().sum(1).numpy() for s in range(0, len(g), chunk)]
                          or [np.zeros(0)])


def unit_rows(x: np.ndarray, norms: np.ndarray, chunk: int = 8192) -> torch.Tensor:
    """fp32(x / norm) per row from float64 norms: one rounding per element."""
    out = np.empty(x.shape, np.float32)
    for s in range(0, len(x), chunk):
        out[s:s + chunk] = np.asarray(x[s:s + chunk], np.float64) / norms[s:s + chunk, None]
    return torch.from_numpy(out)


@dataclass
class PositiveTable:
    """A query's valid positives, best first for the metrics and worst first for counting."""

    pq: np.ndarray           # best first (distance, then gallery index, ascending), grouped by query
    pg: np.ndarray
    m: np.ndarray            # positives per query
    starts: np.ndarray       # where each query's positives start
    base: np.ndarray         # where each query's m + 1 histogram bins start
    t_asc: np.ndarray        # worst first: scores ascending ...
    key_desc: np.ndarray     # ... their reference distances (descending) ...
    idx_desc: np.ndarray     # ... and gallery indices (descending within equal distances)
    t_min: np.ndarray        # per query: the weakest positive's score (inf without positives)

    @classmethod
    def build(cls, pos: Positives, dist: np.ndarray, score: Callable[[np.ndarray, np.ndarray], np.ndarray]
              ) -> "PositiveTable":
        """From the positives' reference distances; `score(qi, dist)` is monotone decreasing."""
        order = np.lexsort((pos.g, dist, pos.q))
        pq, pg, pd = pos.q[order], pos.g[order], dist[order]
        m = np.bincount(pq, minlength=pos.num_queries)
        starts = np.cumsum(m) - m
        j = np.arange(len(pq)) - starts[pq]
        rev = starts[pq] + m[pq] - 1 - j
        key_desc, idx_desc = np.ascontiguousarray(pd[rev]), np.ascontiguousarray(pg[rev])
        t_asc = np.ascontiguousarray(score(pq, key_desc), dtype=np.float64)
        t_min = np.full(pos.num_queries, np.inf)
        has = m > 0
        t_min[has] = t_asc[starts[has]]
        base = np.cumsum(m + 1) - (m + 1)
        return cls(pq, pg, m, starts, base, t_asc, key_desc, idx_desc, t_min)

    def neg_above(self, hist: np.ndarray) -> np.ndarray:
        """Per positive (best first): negatives ranked above it, from the histogram
        hist[base[q] + c] = number of q's negatives above exactly c of its positives (worst first)."""
        csum = np.concatenate([[0], np.cumsum(hist)])
        pq = self.pq
        j = np.arange(len(pq)) - self.starts[pq]
        end = self.base[pq] + self.m[pq] + 1        # one past the query's last bin
        first = self.base[pq] + self.m[pq] - j      # bins c >= m - j lie above positive j
        return csum[end] - csum[first]


class Counter:
    """Places negatives among their query's positives and accumulates the histogram."""

    def __init__(self, table: PositiveTable):
        self.t = table
        span = float(np.abs(table.t_asc).max()) if len(table.t_asc) else 1.0
        # ascending scores per query, offset by query so one searchsorted serves all queries
        self.off = 4.0 * span + 4.0
        self.key = table.pq * self.off + table.t_asc
        self.hist = np.zeros(int((table.m + 1).sum()), np.int64)
        self.exact = 0
        self.ties = 0

    def below(self, qi: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Number of query qi's positives scoring strictly below x."""
        return np.searchsorted(self.key, qi * self.off + x, side="left") - self.t.starts[qi]

    def place(self, qi: np.ndarray, gi: np.ndarray, x: np.ndarray, e, distances: Callable) -> None:
        """Count negatives (qi, gi) of score x, each within e of its exact score; those next to a
        positive are placed by `distances(qi, gi, x)`, their reference distances."""
        t = self.t
        # the query offsets round monotonically: they can only leave a beaten positive uncounted,
        # and the doubt test below (on the scores themselves) then sends the item to the reference
        c = self.below(qi, x - e)
        nxt = np.minimum(t.starts[qi] + c, max(len(t.t_asc) - 1, 0))
        doubt = np.flatnonzero((c < t.m[qi]) & (t.t_asc[nxt] <= x + e))
        if len(doubt):
            dq, dg = qi[doubt], gi[doubt]
            d = np.ascontiguousarray(distances(dq, dg, x[doubt]), dtype=np.float64)
            exact_c = np.empty(len(doubt), np.int64)
            self.ties += int(count_many(t.key_desc, t.idx_desc, t.starts, t.m, dq, d, dg, exact_c))
            self.exact += len(doubt)
            c[doubt] = exact_c
        self.hist += np.bincount(t.base[qi] + c, minlength=len(self.hist))


def _negatives(S: torch.Tensor, thr: np.ndarray, a: int, q_pids, g_pids):
    """(qi, gi, x) of block entries at or above the per-row threshold that are negatives."""
    rows, cols = (S >= torch.from_numpy(thr).to(S.dtype).unsqueeze(1)).nonzero(as_tuple=True)
    x = S[rows, cols].double().numpy()
    rows, cols = rows.numpy(), cols.numpy()
    qi = rows + a
    neg = g_pids[cols] != q_pids[qi]
    return qi[neg], cols[neg], x[neg]


def count_fp32(ref: Reference, pos: Positives, q_pids: np.ndarray, g_pids: np.ndarray, centre=None,
               block: int = 256, progress: bool = False, stats: Optional[dict] = None):
    """Exact counts from fp32 score blocks (torch.mm). Returns (PositiveTable, neg_above, ties)."""
    nq, d = ref.qf.shape
    gd = gamma32(d)
    ref.finish()
    table = PositiveTable.build(pos, ref.distances(pos.q, pos.g), ref.scores)
    if ref.metric == EUCLIDEAN:
        q, g = centred(ref.qf, centre), centred(ref.gf, centre)
        w = half_squared_norms(g)
        wt = torch.from_numpy(w.astype(np.float32))
        qn = np.sqrt(2 * half_squared_norms(q)) * (1 + 1e-6)
        gn = np.sqrt(2 * w) * (1 + 1e-6)
        # |S - x*| <= (gd + 3.1u) |q||g| + 2.1u |g|^2: the matmul, the fp32 offset and subtraction,
        # and the centring of both vectors (each element rounded once); plus float64 margins
        e_qm, e_q0, e_g0 = (gd + 3.1 * U32) * qn, ref.delta_q + d * 2.0 ** -120, 2.1 * U32 * gn ** 2 + ref.delta_g
    else:
        q, g = unit_rows(ref.qf, ref.q_norm), unit_rows(ref.gf, ref.g_norm)
        wt = None
        gn = np.ones(len(ref.gf))
        # rows rounded once after exact scaling: |S - s*| <= gd (1 + u)^2 + 2.01u, plus margins
        e_qm, e_q0, e_g0 = np.full(nq, gd * 1.0001), ref.delta_q + 2.01 * U32 + d * 2.0 ** -120, ref.delta_g
    e_max = e_qm * gn.max() + e_q0 + e_g0.max()
    counter = Counter(table)
    blocks = [(a, min(nq, a + block)) for a in range(0, nq, block) if table.m[a:a + block].any()]
    for a, b in tqdm(blocks, desc="ranking", unit="block", disable=not progress):
        S = q[a:b] @ g.T
        if wt is not None:
            S -= wt
        qi, gi, x = _negatives(S, table.t_min[a:b] - e_max[a:b], a, q_pids, g_pids)
        e = e_qm[qi] * gn[gi] + e_q0[qi] + e_g0[gi]
        counter.place(qi, gi, x, e, lambda dq, dg, _: ref.distances(dq, dg))
    if stats is not None:
        stats.update(exact=counter.exact, ties=counter.ties)
    return table, table.neg_above(counter.hist), counter.ties


def count_scores(block_scores: Callable[[int, int], torch.Tensor], pos: Positives, q_pids: np.ndarray,
                 g_pids: np.ndarray, block: int = 256, progress: bool = False):
    """Counts from exact float64 score blocks ``block_scores(a, b) -> (b-a, G)`` (re-ranking), with
    the tie rule on the scores themselves. Returns (PositiveTable, neg_above, ties)."""
    nq = pos.num_queries
    t = np.empty(len(pos.q), np.float64)
    pos_start = np.searchsorted(pos.q, np.arange(0, nq + block, block))
    blocks = []
    for bi, a in enumerate(range(0, nq, block)):
        b = min(nq, a + block)
        s0, s1 = pos_start[bi], pos_start[bi + 1]
        if s1 == s0:
            continue
        S = block_scores(a, b)
        t[s0:s1] = S[torch.from_numpy(pos.q[s0:s1] - a), torch.from_numpy(pos.g[s0:s1])].double().numpy()
        blocks.append((a, b))
    table = PositiveTable.build(pos, -t, lambda qi, dist: -dist)
    counter = Counter(table)
    for a, b in tqdm(blocks, desc="ranking", unit="block", disable=not progress):
        qi, gi, x = _negatives(block_scores(a, b), table.t_min[a:b], a, q_pids, g_pids)
        counter.place(qi, gi, x, 0.0, lambda dq, dg, xd: -xd)
    return table, table.neg_above(counter.hist), counter.ties
