"""`evaluate(qf, gf, ...)`: mAP, CMC and mINP under the standard re-ID protocol."""
from __future__ import annotations

import time
import warnings
from typing import Optional

import numpy as np
import torch

from .exact import Reference
from .protocol import Positives, check_inputs, metrics_from_ranks, valid_positives
from .ranking import count_fp32, count_scores, gallery_centre, prepare_features

TIE_WARNING_SHARE = 0.01      # warn when this share of query-negative pairs ties with a positive


def _bf16_is_fast() -> bool:
    """True on CPUs whose matmul kernels have native bf16 dot products (AVX512-BF16 / AMX)."""
    try:
        return bool(torch.backends.mkldnn.is_available()) and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    except (AttributeError, RuntimeError):
        return False


def negative_pairs(pos: Positives, q_pids: np.ndarray, g_pids: np.ndarray) -> int:
    """Number of (query, negative) pairs over the queries that have a positive."""
    sorted_g = np.sort(g_pids)
    same = np.searchsorted(sorted_g, q_pids, side="right") - np.searchsorted(sorted_g, q_pids, side="left")
    valid = pos.per_query > 0
    return int((len(g_pids) - same[valid]).sum())


def _warn_ties(ties: int, pairs: int) -> None:
    share = ties / max(pairs, 1)
    if share < TIE_WARNING_SHARE:
        return
    hint = (" Most distances tie: the features have probably collapsed (constant or nearly so)."
            if share >= 0.5 else " The features may be quantised or partly collapsed.")
    warnings.warn(f"{100 * share:.1f}% of query-negative pairs ({ties} of {pairs}) have exactly the distance of "
                  f"one of the query's positives; ties are ordered by gallery index (docs/evaluation.md), so these "
                  f"numbers depend on the gallery order.{hint}", stacklevel=3)


def evaluate(qf, gf, q_pids, g_pids, q_camids, g_camids, metric: str = "cosine", max_rank: int = 50,
             rerank: bool = False, engine: str = "auto", progress: bool = False,
             rerank_params: Optional[dict] = None, stats: Optional[dict] = None) -> dict:
    """mAP, mINP, CMC (rank 1..max_rank) of query features against gallery features.

    Protocol: gallery items of the query's person seen by the query's camera are ignored;
    queries without any valid match are skipped (``num_skipped_queries``). ``metric`` is
    "cosine" or "euclidean". Ranking follows the reference order of `reidzoo.evaluation.exact`:
    float64 distances, equal distances ordered by gallery index (a stable argsort); ties with a
    positive are counted in ``num_tied_pairs`` and warned about when common. ``rerank=True``
    applies k-reciprocal re-ranking (k1=20, k2=6, lambda=0.3 unless ``rerank_params`` says
    otherwise). ``engine`` "bf16" / "fp32" forces a ranking engine; both give the reference
    results ("auto" picks the faster).
    """
    qf, gf, q_pids, g_pids, q_camids, g_camids = check_inputs(qf, gf, q_pids, g_pids, q_camids, g_camids)
    if max_rank < 1:
        raise ValueError(f"max_rank must be >= 1, got {max_rank}")
    if engine not in ("auto", "bf16", "fp32"):
        raise ValueError(f"engine must be 'auto', 'bf16' or 'fp32', got {engine!r}")
    if metric not in ("cosine", "euclidean"):
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    t0 = time.perf_counter()
    pos = valid_positives(q_pids, g_pids, q_camids, g_camids)
    if rerank:
        q, g, _ = prepare_features(qf, gf, metric)
        from .rerank import rerank_block_scores
        block_scores = rerank_block_scores(q, g, metric=metric, progress=progress, **(rerank_params or {}))
        used = "fp32"
        table, neg_above, ties = count_scores(block_scores, pos, q_pids, g_pids, progress=progress)
    else:
        big = len(qf) * len(gf) >= 4_000_000
        used = engine if engine != "auto" else ("bf16" if big and _bf16_is_fast() else "fp32")
        centre = gallery_centre(gf) if metric == "euclidean" else None
        ref = Reference.build(qf, gf, metric, centre)
        if used == "bf16":
            from .ranking_bf16 import count_bf16
            table, neg_above, ties = count_bf16(ref, pos, q_pids, g_pids, centre, progress=progress, stats=stats)
        else:
            table, neg_above, ties = count_fp32(ref, pos, q_pids, g_pids, centre, progress=progress, stats=stats)
    out = metrics_from_ranks(table.pq, neg_above, len(qf), max_rank)
    pairs = negative_pairs(pos, q_pids, g_pids)
    out.update(num_tied_pairs=int(ties), num_negative_pairs=pairs)
    _warn_ties(ties, pairs)
    if stats is not None:
        stats.update(engine=used, seconds=time.perf_counter() - t0)
    return out
