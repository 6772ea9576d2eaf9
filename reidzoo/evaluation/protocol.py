"""The standard re-ID protocol: input checks, valid positives per query, and metrics from ranks.

For each query, gallery items of the same person seen by the same camera are ignored ("junk");
the remaining items of the same person are its positives, everything else is a negative. A query
without positives is skipped and counted. mAP, CMC and mINP then only need, for every positive,
the number of negatives ranked above it; the ranking engines (`ranking.py`) produce those counts.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class EvaluationInputError(ValueError):
    """Raised for features / ids / cameras that cannot be evaluated."""


def check_inputs(qf, gf, q_pids, g_pids, q_camids, g_camids):
    """Validate and convert evaluation inputs; raise EvaluationInputError with a fix otherwise."""
    qf = np.asarray(qf)
    gf = np.asarray(gf)
    for name, f in (("query features", qf), ("gallery features", gf)):
        if f.ndim != 2:
            raise EvaluationInputError(f"{name} must be a 2-D array (N, D), got shape {f.shape}")
        if f.shape[0] == 0:
            raise EvaluationInputError(f"{name} are empty: need at least one {name.split()[0]} item")
        if not np.issubdtype(f.dtype, np.number):
            raise EvaluationInputError(f"{name} must be numeric, got dtype {f.dtype}")
        if np.iscomplexobj(f):
            # casting would silently drop the imaginary part
            raise EvaluationInputError(f"{name} are complex ({f.dtype}): the evaluator compares real vectors; "
                                       f"pass the real features (e.g. np.abs(x) or np.real(x), as you intend)")
    if qf.shape[1] != gf.shape[1]:
        raise EvaluationInputError(f"query features have dimension {qf.shape[1]} but gallery features "
                                   f"{gf.shape[1]}: both must come from the same model")
    arrays = {}
    for name, a, n in (("q_pids", q_pids, len(qf)), ("g_pids", g_pids, len(gf)),
                       ("q_camids", q_camids, len(qf)), ("g_camids", g_camids, len(gf))):
        a = np.asarray(a)
        if a.ndim != 1 or len(a) != n:
            side = "query" if name.startswith("q") else "gallery"
            raise EvaluationInputError(f"{name} has shape {a.shape} but there are {n} {side} features: "
                                       f"give one id / camera per feature row")
        if not np.issubdtype(a.dtype, np.integer):
            # float ids lose precision silently (float32 merges ids above 2^24): integers only
            raise EvaluationInputError(f"{name} must hold integers, got dtype {a.dtype}: save ids and cameras "
                                       f"as int64 (e.g. np.asarray(ids, dtype=np.int64))")
        if a.dtype == np.uint64 and len(a) and a.max() > np.iinfo(np.int64).max:
            raise EvaluationInputError(f"{name} holds values above the int64 range")
        arrays[name] = a.astype(np.int64, copy=False)
    qf = qf.astype(np.float32, copy=False)
    gf = gf.astype(np.float32, copy=False)
    for name, f in (("query features", qf), ("gallery features", gf)):
        with np.errstate(all="ignore"):
            if np.isfinite(f.sum(axis=1, dtype=np.float64)).all():   # quick pass; NaN/inf propagate
                continue
        bad = ~np.isfinite(f).all(axis=1)
        if bad.any():
            rows = np.flatnonzero(bad)
            raise EvaluationInputError(
                f"{name} contain NaN or infinite values in {len(rows)} row(s), e.g. rows {rows[:5].tolist()} "
                f"(often images that failed to decode): drop those rows and their ids first")
    return qf, gf, arrays["q_pids"], arrays["g_pids"], arrays["q_camids"], arrays["g_camids"]


@dataclass
class Positives:
    """Valid positives as flat pairs, grouped by query (q ascending)."""
    q: np.ndarray          # query index per pair
    g: np.ndarray          # gallery index per pair
    num_queries: int

    @property
    def per_query(self) -> np.ndarray:
        return np.bincount(self.q, minlength=self.num_queries)


def valid_positives(q_pids, g_pids, q_camids, g_camids) -> Positives:
    """All (query, gallery) pairs with the same person and a different camera."""
    order = np.argsort(g_pids, kind="stable")
    sorted_pids = g_pids[order]
    lo = np.searchsorted(sorted_pids, q_pids, side="left")
    hi = np.searchsorted(sorted_pids, q_pids, side="right")
    counts = hi - lo
    q = np.repeat(np.arange(len(q_pids), dtype=np.int64), counts)
    starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
    g = order[starts + np.arange(len(q), dtype=np.int64)]
    keep = g_camids[g] != q_camids[q]
    return Positives(q[keep], g[keep], len(q_pids))


def metrics_from_ranks(pos_q: np.ndarray, neg_above: np.ndarray, num_queries: int, max_rank: int = 50) -> dict:
    """mAP, mINP and CMC from, per positive pair (sorted by query, best score first), the count of
    negatives ranked above it. Queries without positives are skipped and counted."""
    m = np.bincount(pos_q, minlength=num_queries)
    valid = m > 0
    n_valid = int(valid.sum())
    if n_valid == 0:
        raise EvaluationInputError("no query has a valid match in the gallery (same person, other camera): "
                                   "check that query and gallery ids / cameras come from the same dataset")
    starts = np.cumsum(m) - m
    j = np.arange(len(pos_q)) - starts[pos_q]          # 0-based position among the query's positives
    ranks = neg_above.astype(np.float64) + j + 1        # 1-based rank among valid gallery items
    ap = np.bincount(pos_q, weights=(j + 1) / ranks, minlength=num_queries)[valid] / m[valid]
    last = starts[valid] + m[valid] - 1
    inp = m[valid] / ranks[last]
    first_rank = ranks[starts[valid]]
    cmc = (first_rank[None, :] <= np.arange(1, max_rank + 1)[:, None]).mean(axis=1)
    return {
        "mAP": float(ap.mean()),
        "mINP": float(inp.mean()),
        "cmc": cmc.astype(np.float64),
        "rank1": float(cmc[0]),
        "rank5": float(cmc[min(4, max_rank - 1)]),
        "rank10": float(cmc[min(9, max_rank - 1)]),
        "num_valid_queries": n_valid,
        "num_skipped_queries": int(num_queries - n_valid),
    }
