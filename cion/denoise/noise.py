"""CION's noise definition as code: identity centroids, radii, centroid distances and the two criteria.

All distances are cosine distances (1 - cosine similarity) on L2-normalised features, so they
lie in [0, 2]. An identity is a set of samples sharing a label >= 0; label -1 means "dropped".
Group sums use `torch.index_add_` on a zero-copy view of the feature matrix because it is one
pass over memory with no sorting or copy of the (N, d) array (numpy's reduceat is ~10x slower
on 2-D input and needs sorted groups).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import faiss
import numpy as np
import torch

# Rows processed per chunk when gathering centroids per sample: bounds the temporary to
# CHUNK x d floats (64 MiB at d=256) whatever N is.
CHUNK = 65536


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Row-wise L2 normalisation in place for float32 arrays (returns the array)."""
    x = np.asarray(x, dtype=np.float32)
    for s in range(0, len(x), CHUNK):
        blk = x[s:s + CHUNK]
        blk /= np.maximum(np.linalg.norm(blk, axis=1, keepdims=True), eps)
    return x


def group_sums(x: np.ndarray, labels: np.ndarray, n_groups: int) -> Tuple[np.ndarray, np.ndarray]:
    """(n_groups, d) feature sums and (n_groups,) member counts; rows with label < 0 are ignored."""
    labels = np.asarray(labels)
    keep = labels >= 0
    # Dropped rows are summed into a spare last row instead of being filtered out: filtering would
    # copy the selected rows of x, the spare row costs nothing.
    idx = np.where(keep, labels, n_groups).astype(np.int64, copy=False)
    sums = torch.zeros(n_groups + 1, x.shape[1], dtype=torch.float32)
    sums.index_add_(0, torch.from_numpy(idx), torch.from_numpy(x))
    counts = np.bincount(labels[keep], minlength=n_groups).astype(np.int64)
    return sums[:n_groups].numpy(), counts


def unit_centroids(sums: np.ndarray) -> np.ndarray:
    """Centroid directions: group sums normalised to unit length (empty groups stay zero)."""
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return (sums / np.maximum(norms, 1e-12)).astype(np.float32)


def distances_to_centroids(x: np.ndarray, labels: np.ndarray, centroids: np.ndarray,
                           rows: Optional[np.ndarray] = None) -> np.ndarray:
    """Cosine distance of each sample (or of `rows`) to its own group's centroid; NaN when dropped."""
    n = len(x) if rows is None else len(rows)
    out = np.full(n, np.nan, dtype=np.float32)
    for s in range(0, n, CHUNK):
        e = min(n, s + CHUNK)
        if rows is None:
            xs, lab = x[s:e], labels[s:e]   # a view: no copy of the features
        else:
            r = np.asarray(rows[s:e])
            xs, lab = x[r], labels[r]
        ok = lab >= 0
        if not ok.any():
            continue
        if not ok.all():
            xs, lab = xs[ok], lab[ok]
        blk = out[s:e]
        blk[ok] = 1.0 - np.einsum("ij,ij->i", xs, centroids[lab])
    return out


def group_max(values: np.ndarray, labels: np.ndarray, n_groups: int) -> np.ndarray:
    """Per-group maximum of `values` (-inf for empty groups); label < 0 ignored."""
    out = np.full(n_groups, -np.inf, dtype=np.float64)
    ok = labels >= 0
    np.maximum.at(out, labels[ok], values[ok])
    return out


@dataclass
class GroupGeometry:
    """Centroids, sizes and radii of every identity under one labelling."""

    centroids: np.ndarray   # (G, d) unit vectors
    counts: np.ndarray      # (G,) members
    radii: np.ndarray       # (G,) max member distance to the centroid (0 for singletons, nan if empty)
    distances: np.ndarray   # (N,) sample distance to its own centroid (nan when dropped)


def geometry(x: np.ndarray, labels: np.ndarray, n_groups: Optional[int] = None) -> GroupGeometry:
    """Centroid, size and radius of every group of `labels` (one pass to sum, one to measure)."""
    n_groups = int(labels.max()) + 1 if n_groups is None else n_groups
    n_groups = max(n_groups, 0)
    sums, counts = group_sums(x, labels, n_groups)
    cents = unit_centroids(sums)
    dist = distances_to_centroids(x, labels, cents)
    radii = group_max(np.nan_to_num(dist, nan=-np.inf), labels, n_groups)
    radii = np.where(counts > 0, np.maximum(radii, 0.0), np.nan)
    return GroupGeometry(cents, counts, radii, dist)


def nearest_centroid_distances(centroids: np.ndarray, max_queries: int = 5000,
                               seed: int = 0, exclude_same: Optional[np.ndarray] = None) -> np.ndarray:
    """Distance from each centroid to its nearest *other* centroid (FAISS exact inner-product search).

    Above `max_queries` identities a random subset of queries (against all centroids) estimates the
    distribution, which keeps this O(max_queries * G) instead of O(G^2).
    `exclude_same` (one key per centroid, e.g. the video) ignores neighbours with the same key.
    """
    g = len(centroids)
    if g < 2:
        return np.zeros(0, dtype=np.float32)
    index = faiss.IndexFlatIP(centroids.shape[1])
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    queries = np.arange(g)
    if g > max_queries:
        queries = np.sort(np.random.default_rng(seed).choice(g, max_queries, replace=False))
    k = min(g, 2 if exclude_same is None else 16)
    sims, nn = index.search(np.ascontiguousarray(centroids[queries]), k)
    valid = nn != queries[:, None]
    valid &= nn >= 0
    if exclude_same is not None:
        valid &= exclude_same[np.maximum(nn, 0)] != exclude_same[queries][:, None]
    sims = np.where(valid, sims, -np.inf)
    best = sims.max(1)
    best = best[np.isfinite(best)]
    return (1.0 - best).astype(np.float32)


def summarize(values: np.ndarray) -> Dict[str, float]:
    """Count, mean and percentiles of a distribution (empty-safe), for the report."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return {"count": 0}
    q = np.percentile(v, [0, 5, 25, 50, 75, 95, 100])
    return {"count": int(len(v)), "mean": float(v.mean()), "min": float(q[0]), "p5": float(q[1]),
            "p25": float(q[2]), "median": float(q[3]), "p75": float(q[4]), "p95": float(q[5]),
            "max": float(q[6])}


def criteria_stats(x: np.ndarray, labels: np.ndarray, radius: float, distance: float,
                   max_queries: int = 5000) -> Tuple[Dict[str, object], np.ndarray, np.ndarray]:
    """Both noise criteria over the current identities: radius <= r and nearest centroid >= d.

    Returns the report dict plus the raw radii and nearest-centroid distances (for histograms).
    """
    labels = compact_labels(labels)
    n_groups = int(labels.max()) + 1 if (labels >= 0).any() else 0
    geo = geometry(x, labels, n_groups)
    radii = geo.radii[geo.counts > 0]
    nearest = nearest_centroid_distances(geo.centroids[geo.counts > 0], max_queries=max_queries)
    stats = {
        "identities": int((geo.counts > 0).sum()),
        "images": int(geo.counts.sum()),
        "radius": summarize(radii),
        "radius_ok_fraction": float((radii <= radius).mean()) if len(radii) else 1.0,
        "nearest_centroid_distance": summarize(nearest),
        "nearest_centroid_sampled": bool(n_groups > max_queries),
        "distance_ok_fraction": float((nearest >= distance).mean()) if len(nearest) else 1.0,
    }
    return stats, radii, nearest


def compact_labels(labels: np.ndarray) -> np.ndarray:
    """Relabel groups to 0..G-1 in order of their first sample, keeping -1 for dropped samples."""
    labels = np.asarray(labels)
    out = np.full(len(labels), -1, dtype=np.int64)
    ok = labels >= 0
    if ok.any():
        uniq, first, inv = np.unique(labels[ok], return_index=True, return_inverse=True)
        rank = np.empty(len(uniq), dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(uniq))
        out[ok] = rank[inv]
    return out
