"""FAISS top-k retrieval: ranked lists and mAP@k (in the reference order, via `neighbours.py`).

Uses faiss-gpu on all visible GPUs when it is installed and a GPU is present, else exact CPU
flat indexes. Scores are "higher is better" as in `ranking.py`: cosine similarity, or
q.g - |g|^2 / 2 for Euclidean distance.
"""
from __future__ import annotations

from typing import Tuple

import faiss
import numpy as np

from .protocol import check_inputs, valid_positives


def gpu_available() -> bool:
    """True when faiss was built with GPU support and sees a GPU."""
    return hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def flat_index(database: np.ndarray, metric: str = "ip"):
    """An exact flat index over ``database`` ('ip' inner product or 'l2' squared distance)."""
    database = np.ascontiguousarray(database, dtype=np.float32)
    index = faiss.IndexFlatIP(database.shape[1]) if metric == "ip" else faiss.IndexFlatL2(database.shape[1])
    if gpu_available():
        index = faiss.index_cpu_to_all_gpus(index)
    index.add(database)
    return index


def _as_scores(qf: np.ndarray, gf: np.ndarray, metric: str) -> Tuple[np.ndarray, np.ndarray]:
    """Vectors whose inner products are the ranking scores of `metric`."""
    qf = np.ascontiguousarray(qf, dtype=np.float32)
    gf = np.ascontiguousarray(gf, dtype=np.float32)
    if metric == "cosine":
        return (qf / np.maximum(np.linalg.norm(qf, axis=1, keepdims=True), 1e-12),
                gf / np.maximum(np.linalg.norm(gf, axis=1, keepdims=True), 1e-12))
    if metric == "euclidean":
        centre = gf.astype(np.float64).mean(0)
        q = (qf - centre).astype(np.float32)
        g = (gf - centre).astype(np.float32)
        half_sq = (0.5 * np.square(g.astype(np.float64)).sum(1)).astype(np.float32)
        return (np.hstack([q, -np.ones((len(q), 1), np.float32)]), np.hstack([g, half_sq[:, None]]))
    raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")


def topk(qf: np.ndarray, gf: np.ndarray, k: int, metric: str = "cosine") -> Tuple[np.ndarray, np.ndarray]:
    """(scores, indices) of each query's k best gallery items, best first."""
    q, g = _as_scores(qf, gf, metric)
    k = min(k, len(g))
    scores, idx = flat_index(g, "ip").search(q, k)
    return scores, idx


def ranked_lists(qf, gf, q_pids, g_pids, q_camids, g_camids, k: int = 10, metric: str = "cosine",
                 queries=None):
    """Top-k gallery indices per query with same-id same-camera items removed (protocol order):
    the evaluator's reference order, equal distances by gallery index (`neighbours.exact_topk`)."""
    from .exact import Reference
    from .neighbours import exact_topk
    from .ranking import centred, gallery_centre, unit_rows
    qf, gf, q_pids, g_pids, q_camids, g_camids = check_inputs(qf, gf, q_pids, g_pids, q_camids, g_camids)
    if metric not in ("cosine", "euclidean"):
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    sel = np.arange(len(qf)) if queries is None else np.asarray(queries)
    centre = gallery_centre(gf) if metric == "euclidean" else None
    ref = Reference.build(qf[sel], gf, metric, centre).finish()
    if metric == "cosine":
        qx, gx = unit_rows(ref.qf, ref.q_norm).numpy(), unit_rows(ref.gf, ref.g_norm).numpy()
    else:
        qx, gx = centred(ref.qf, centre).numpy(), centred(ref.gf, centre).numpy()
    # fetch extra items so that removing junk still leaves k per query
    junk_max = int(np.max(np.unique(np.stack([g_pids, g_camids], 1), axis=0, return_counts=True)[1]))
    idx = exact_topk(qx, gx, ref, k + junk_max)
    out = []
    for row, qi in zip(idx, sel):
        junk = (g_pids[row] == q_pids[qi]) & (g_camids[row] == q_camids[qi])
        out.append(row[~junk][:k])
    return out


def map_at_k(qf, gf, q_pids, g_pids, q_camids, g_camids, k: int = 100, metric: str = "cosine") -> dict:
    """mAP@k and CMC for galleries too big to rank fully: only each query's top-k is retrieved.

    AP@k = sum over positives within the top k of precision at that rank, divided by
    min(k, number of positives); queries without valid positives are skipped. The top k follows
    the evaluator's tie rule (equal distances by gallery index).
    """
    qf, gf, q_pids, g_pids, q_camids, g_camids = check_inputs(qf, gf, q_pids, g_pids, q_camids, g_camids)
    lists = ranked_lists(qf, gf, q_pids, g_pids, q_camids, g_camids, k=k, metric=metric)
    npos = np.bincount(valid_positives(q_pids, g_pids, q_camids, g_camids).q, minlength=len(qf))
    aps, first = [], []
    for qi, row in enumerate(lists):
        if npos[qi] == 0:
            continue
        match = g_pids[row] == q_pids[qi]
        hits = np.cumsum(match)
        aps.append(float((hits / np.arange(1, len(row) + 1))[match].sum() / min(k, npos[qi])))
        first.append(int(np.argmax(match)) + 1 if match.any() else k + 1)
    first = np.asarray(first)
    return {f"mAP@{k}": float(np.mean(aps)), "rank1": float(np.mean(first <= 1)),
            "rank5": float(np.mean(first <= 5)), "rank10": float(np.mean(first <= 10)),
            "num_valid_queries": len(aps), "num_skipped_queries": int(len(qf) - len(aps))}
