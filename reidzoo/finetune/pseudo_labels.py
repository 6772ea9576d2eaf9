"""Pseudo identities for unlabelled images: DBSCAN on k-reciprocal Jaccard distances (Cluster Contrast).

    labels = pseudo_labels(features, eps=0.6)     # (N,) cluster index per image, -1 = outlier

The distances are the re-ranking code's (`reidzoo.evaluation.rerank.jaccard_distance`, FAISS
neighbours, sparse); DBSCAN is scikit-learn's on that sparse matrix, where an absent pair means
"farther than any eps below 1", so the result equals DBSCAN on the dense matrix.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

DEFAULT_K1, DEFAULT_K2, DEFAULT_MIN_SAMPLES = 30, 6, 4


def dbscan_labels(distances, eps: float, min_samples: int = DEFAULT_MIN_SAMPLES) -> np.ndarray:
    """DBSCAN on a precomputed (sparse or dense) distance matrix: labels 0..C-1, -1 for outliers."""
    from sklearn.cluster import DBSCAN
    if not 0.0 < eps < 1.0:
        # a Jaccard distance is at most 1, and absent sparse entries stand for 1
        raise ValueError(f"eps must be in (0, 1) for Jaccard distances, got {eps}")
    if int(min_samples) < 1:
        raise ValueError(f"min_samples must be >= 1, got {min_samples}")
    return DBSCAN(eps=eps, min_samples=int(min_samples), metric="precomputed").fit_predict(distances)


def pseudo_labels(features: np.ndarray, eps: float, min_samples: int = DEFAULT_MIN_SAMPLES,
                  k1: int = DEFAULT_K1, k2: int = DEFAULT_K2) -> np.ndarray:
    """Cluster index per feature row (cosine k-reciprocal Jaccard + DBSCAN); -1 marks outliers."""
    from ..evaluation.rerank import jaccard_distance
    features = np.asarray(features, dtype=np.float32)
    if len(features) < 2:
        return np.full(len(features), -1, np.int64)
    return dbscan_labels(jaccard_distance(features, k1=k1, k2=k2, metric="cosine"), eps, min_samples)


def label_stats(labels: np.ndarray, true_ids: np.ndarray = None) -> Dict[str, float]:
    """Cluster count and outlier share; with ground truth (diagnostics only) the adjusted Rand index
    and purity of the clustered images, and the ARI of all images with each outlier on its own."""
    labels = np.asarray(labels)
    kept = labels >= 0
    out = {"clusters": int(len(np.unique(labels[kept]))), "outliers": float(1.0 - kept.mean()) if len(labels) else 0.0}
    if true_ids is not None and kept.any():
        from sklearn.metrics import adjusted_rand_score
        t, c = np.asarray(true_ids)[kept], labels[kept]
        out["ari"] = float(adjusted_rand_score(t, c))
        # dropping images makes the clustered rest look cleaner; counting outliers as singletons does not
        alone = np.where(kept, labels, labels.max() + 1 + np.arange(len(labels)))
        out["ari_all"] = float(adjusted_rand_score(true_ids, alone))
        # purity: share of clustered images whose cluster's majority identity is their own
        pairs = np.unique(np.stack([c, t]), axis=1, return_counts=True)
        best = {}
        for (ci, _), n in zip(pairs[0].T, pairs[1]):
            best[ci] = max(best.get(ci, 0), n)
        out["purity"] = float(sum(best.values()) / kept.sum())
    return out
