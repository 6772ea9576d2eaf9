"""`evaluate(qf, gf, ...)`: mAP, CMC and mINP under the standard re-ID protocol."""
from __future__ import annotations

import time
from typing import Optional

import numpy as np
import torch

from .protocol import check_inputs, metrics_from_ranks, valid_positives
from .ranking import count_bf16, count_fp32, prepare_features, prepare_scaled


def _bf16_is_fast() -> bool:
    """True on CPUs whose matmul kernels have native bf16 dot products (AVX512-BF16 / AMX)."""
    try:
        return bool(torch.backends.mkldnn.is_available()) and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    except (AttributeError, RuntimeError):
        return False


def evaluate(qf, gf, q_pids, g_pids, q_camids, g_camids, metric: str = "cosine", max_rank: int = 50,
             rerank: bool = False, engine: str = "auto", progress: bool = False,
             rerank_params: Optional[dict] = None, stats: Optional[dict] = None) -> dict:
    """mAP, mINP, CMC (rank 1..max_rank) of query features against gallery features.

    Protocol: gallery items of the query's person seen by the query's camera are ignored;
    queries without any valid match are skipped (``num_skipped_queries``). ``metric`` is
    "cosine" (features L2-normalised) or "euclidean". ``rerank=True`` applies k-reciprocal
    re-ranking (k1=20, k2=6, lambda=0.3 unless ``rerank_params`` says otherwise). ``engine``
    "bf16" / "fp32" forces a ranking engine; both give identical results ("auto" picks the faster).
    """
    qf, gf, q_pids, g_pids, q_camids, g_camids = check_inputs(qf, gf, q_pids, g_pids, q_camids, g_camids)
    if max_rank < 1:
        raise ValueError(f"max_rank must be >= 1, got {max_rank}")
    if engine not in ("auto", "bf16", "fp32"):
        raise ValueError(f"engine must be 'auto', 'bf16' or 'fp32', got {engine!r}")
    t0 = time.perf_counter()
    pos = valid_positives(q_pids, g_pids, q_camids, g_camids)
    if rerank:
        q, g, w = prepare_features(qf, gf, metric)
        from .rerank import rerank_block_scores
        block_scores = rerank_block_scores(q, g, metric=metric, progress=progress, **(rerank_params or {}))
        used = "fp32"
        pq, _, _, neg_above = count_fp32(block_scores, pos, g_pids, q_pids, progress=progress)
    else:
        big = len(qf) * len(gf) >= 4_000_000
        used = engine if engine != "auto" else ("bf16" if big and _bf16_is_fast() else "fp32")
        if used == "bf16":
            # the features are not copied: scores use their inverse norms as per-row scales
            q, g, w, qs, gs = prepare_scaled(qf, gf, metric)
            pq, _, _, neg_above = count_bf16(q, g, w, pos, g_pids, q_pids, q_scale=qs, g_scale=gs,
                                             progress=progress, stats=stats)
        else:
            q, g, w = prepare_features(qf, gf, metric)
            wt = torch.from_numpy(w.astype(np.float32))

            def block_scores(a: int, b: int) -> torch.Tensor:
                s = q[a:b] @ g.T
                return s - wt if metric == "euclidean" else s

            pq, _, _, neg_above = count_fp32(block_scores, pos, g_pids, q_pids, progress=progress)
    out = metrics_from_ranks(pq, neg_above, len(qf), max_rank)
    if stats is not None:
        stats.update(engine=used, seconds=time.perf_counter() - t0)
    return out
