"""Clustering quality of identity labels against ground truth: pairwise and BCubed precision/recall/F1.

Dropped samples (label -1) count as singletons, so dropping a crop costs recall and can never buy it.
Samples without a ground-truth identity (gt -1: junk detections) are singletons of their own too, so
any predicted pair that includes one is a false positive.
"""
from __future__ import annotations

from typing import Dict

import numpy as np


def _singletons(labels: np.ndarray) -> np.ndarray:
    """Replace -1 by fresh labels so each such sample is its own cluster."""
    labels = np.asarray(labels, dtype=np.int64).copy()
    neg = labels < 0
    base = labels.max() + 1 if (~neg).any() else 0
    labels[neg] = base + np.arange(int(neg.sum()))
    return labels


def _pairs(counts: np.ndarray) -> float:
    c = counts.astype(np.float64)
    return float((c * (c - 1) / 2).sum())


def cluster_scores(pred: np.ndarray, gt: np.ndarray) -> Dict[str, float]:
    """Pairwise and BCubed precision / recall / F1 of `pred` against `gt` (both (N,) ints, -1 = none)."""
    p, g = _singletons(pred), _singletons(gt)
    if len(p) == 0:
        return {k: 0.0 for k in ("pair_precision", "pair_recall", "pair_f1", "bcubed_precision",
                                 "bcubed_recall", "bcubed_f1")}
    _, p = np.unique(p, return_inverse=True)
    _, g = np.unique(g, return_inverse=True)
    joint, joint_inv = np.unique(p * (g.max() + 1) + g, return_inverse=True)
    n_joint = np.bincount(joint_inv)
    n_pred = np.bincount(p)
    n_gt = np.bincount(g)
    tp = _pairs(n_joint)
    pp, tpairs = _pairs(n_pred), _pairs(n_gt)
    precision = tp / pp if pp else 1.0
    recall = tp / tpairs if tpairs else 1.0
    # BCubed: per sample, share of its predicted cluster that has its identity, and vice versa.
    nj = n_joint[joint_inv].astype(np.float64)
    bp = float((nj / n_pred[p]).mean())
    br = float((nj / n_gt[g]).mean())
    f1 = lambda a, b: 2 * a * b / (a + b) if a + b else 0.0  # noqa: E731
    return {"pair_precision": precision, "pair_recall": recall, "pair_f1": f1(precision, recall),
            "bcubed_precision": bp, "bcubed_recall": br, "bcubed_f1": f1(bp, br)}
