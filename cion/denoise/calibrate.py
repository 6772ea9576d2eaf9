"""Threshold calibration: suggest r and d from the corpus's own distance distributions.

r (radius): CION's intra-identity criterion should remove outliers, not trim normal pose and
lighting variation, so r is the far-out Tukey fence Q3 + 3 * IQR of the sample-to-tracklet-centroid
distances. Junk crops and identity switches lie far beyond it; ordinary crops lie inside.

d (centroid distance): two references that need no labels.
  * different people: tracklets of one video on screen together (overlapping frame spans) are
    different people for sure
    (when frames are unknown, random tracklet pairs from different videos, which are different
    people with overwhelming probability in a large corpus);
  * the same person: the first and second half of one tracklet.
d is placed halfway between them: the mean of the same-person 95th percentile and the
different-person 1st percentile, never above that 1st percentile, so at most ~1% of known
different-person pairs are close enough to be merge candidates, and the complete-linkage and radius
checks must still pass before any merge.

r_merge (radius of an identity built from several tracklets, levels 2 and 3): a person seen in
several videos spreads wider than one tracklet (camera, light), so the level-1 r would veto every
cross-video merge. r_merge is the same far-out fence, measured on the crops of the identities that complete linkage at
d alone (levels 2 and 3 without a radius check) would build: members beyond it are outliers of a
merged identity, and a merge that would contain one is refused.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional

import numpy as np

from .corpus import Corpus
from .noise import distances_to_centroids, group_sums, unit_centroids


@dataclass
class Calibration:
    """Chosen thresholds plus the evidence behind them (printed and stored in the report)."""

    radius: Optional[float] = None
    distance: Optional[float] = None
    merge_radius: Optional[float] = None
    why: Dict[str, str] = field(default_factory=dict)
    evidence: Dict[str, object] = field(default_factory=dict)
    different_person: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    same_person: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    def as_dict(self) -> Dict[str, object]:
        return {"radius": self.radius, "distance": self.distance, "merge_radius": self.merge_radius,
                "why": self.why, "evidence": self.evidence}


def calibrate_radius(corpus: Corpus, labels: np.ndarray, fence: float = 3.0, min_size: int = 3) -> Calibration:
    """r = Q3 + fence * IQR of member distances to their identity centroid (identities >= min_size)."""
    x = corpus.features
    n_groups = int(labels.max()) + 1 if (labels >= 0).any() else 0
    sums, counts = group_sums(x, labels, n_groups)
    lab = np.where((labels >= 0) & (counts[np.maximum(labels, 0)] >= min_size), labels, -1)
    dist = distances_to_centroids(x, lab, unit_centroids(sums))
    dist = dist[np.isfinite(dist)]
    if len(dist) < 10:
        raise ValueError("too few tracklets with >= 3 crops to calibrate the radius; pass --radius")
    q1, q3 = np.percentile(dist, [25, 75])
    r = float(min(2.0, q3 + fence * (q3 - q1)))
    beyond = float((dist > r).mean())
    why = (f"r={r:.4g}: far-out fence Q3 + {fence:g}*IQR of {len(dist)} crop-to-tracklet-centroid distances "
           f"(Q1={q1:.4g}, Q3={q3:.4g}); {100 * beyond:.2f}% of crops lie beyond it")
    return Calibration(radius=r, why={"radius": why},
                       evidence={"crop_to_centroid": {"q1": float(q1), "q3": float(q3), "n": int(len(dist)),
                                                      "fraction_beyond": beyond}})


def _split_half_distances(corpus: Corpus, labels: np.ndarray, min_size: int = 4) -> np.ndarray:
    """Distance between the centroids of the first and second half (in row order) of each tracklet."""
    x = corpus.features
    ok = labels >= 0
    n_groups = int(labels.max()) + 1 if ok.any() else 0
    counts = np.bincount(labels[ok], minlength=n_groups)
    rows = np.flatnonzero(ok & (counts[np.maximum(labels, 0)] >= min_size))
    if len(rows) == 0:
        return np.zeros(0, np.float32)
    lab = labels[rows]
    order = np.argsort(lab, kind="stable")  # rows are already in frame order within a tracklet
    rows, lab = rows[order], lab[order]
    first = np.searchsorted(lab, lab, side="left")
    rank = np.arange(len(lab)) - first
    half = (rank >= counts[lab] // 2).astype(np.int64)
    split = np.full(len(x), -1, np.int64)
    split[rows] = lab * 2 + half
    sums, _ = group_sums(x, split, 2 * n_groups)
    c = unit_centroids(sums)
    g = np.unique(lab)
    return (1.0 - (c[2 * g] * c[2 * g + 1]).sum(1)).astype(np.float32)


def _different_person_distances(corpus: Corpus, labels: np.ndarray, cents: np.ndarray,
                                max_pairs: int = 200000, seed: int = 0) -> tuple:
    """Centroid distances of pairs known (or nearly sure) to be different people, and their source."""
    ok = labels >= 0
    if corpus.frame is not None:
        # Tracklets of one video on screen at the same time (overlapping frame spans) are different people.
        pairs = _overlapping_pairs(corpus, labels)
        if len(pairs) >= 10:  # few but certain beats many random pairs that may share people
            if len(pairs) > max_pairs:
                pairs = pairs[np.random.default_rng(seed).choice(len(pairs), max_pairs, replace=False)]
            a, b = pairs[:, 0], pairs[:, 1]
            return (1.0 - (cents[a] * cents[b]).sum(1)).astype(np.float32), "tracklets on screen together"
    live = np.unique(labels[ok])
    vid = np.full(len(cents), -1, np.int64)
    vid[labels[ok]] = corpus.video[ok]
    rng = np.random.default_rng(seed)
    a = rng.choice(live, max_pairs)
    b = rng.choice(live, max_pairs)
    keep = vid[a] != vid[b]
    key = np.unique(np.minimum(a, b)[keep] * len(cents) + np.maximum(a, b)[keep])  # each pair once
    a, b = key // len(cents), key % len(cents)
    return (1.0 - (cents[a] * cents[b]).sum(1)).astype(np.float32), "random tracklet pairs from different videos"


def _overlapping_pairs(corpus: Corpus, labels: np.ndarray) -> np.ndarray:
    """(P, 2) identity pairs of one video whose frame spans overlap."""
    ok = labels >= 0
    n_groups = int(labels.max()) + 1 if ok.any() else 0
    first = np.full(n_groups, np.iinfo(np.int64).max)
    last = np.full(n_groups, np.iinfo(np.int64).min)
    np.minimum.at(first, labels[ok], corpus.frame[ok])
    np.maximum.at(last, labels[ok], corpus.frame[ok])
    vid = np.full(n_groups, -1, np.int64)
    vid[labels[ok]] = corpus.video[ok]
    out = []
    for v in np.unique(vid[vid >= 0]):  # a video holds tens of tracklets: the k x k test is cheap
        g = np.flatnonzero(vid == v)
        over = (first[g][:, None] <= last[g][None, :]) & (first[g][None, :] <= last[g][:, None])
        i, j = np.nonzero(np.triu(over, 1))
        out.append(np.stack([g[i], g[j]], 1))
    return np.concatenate(out) if out else np.zeros((0, 2), np.int64)


def calibrate_distance(corpus: Corpus, labels: np.ndarray, seed: int = 0) -> Calibration:
    """Suggest d between the same-person (split halves) and different-person centroid distances."""
    x = corpus.features
    n_groups = int(labels.max()) + 1 if (labels >= 0).any() else 0
    sums, counts = group_sums(x, labels, n_groups)
    cents = unit_centroids(sums)
    diff, source = _different_person_distances(corpus, labels, cents, seed=seed)
    same = _split_half_distances(corpus, labels)
    if len(diff) < 3:
        raise ValueError("too few identity pairs to calibrate the centroid distance (need several videos "
                         "or tracklets on screen together); pass --distance")
    d_hi = float(np.percentile(diff, 1))
    if len(same) >= 10:
        s95 = float(np.percentile(same, 95))
        d = float(min(d_hi, 0.5 * (s95 + d_hi)))
        why = (f"d={d:.4g}: halfway between the same-person 95th percentile {s95:.4g} (first vs second half "
               f"of {len(same)} tracklets) and the different-person 1st percentile {d_hi:.4g} "
               f"({len(diff)} pairs of {source})")
        if s95 >= d_hi:
            why += "; WARNING: the two distributions overlap, the features separate people poorly"
    else:
        s95 = None
        d = d_hi
        why = f"d={d:.4g}: 1st percentile of {len(diff)} different-person centroid distances ({source})"
    if len(diff) < 50:
        why += f"; WARNING: only {len(diff)} different-person pairs, the estimate is rough (or pass --distance)"
    return Calibration(distance=d, why={"distance": why}, different_person=diff, same_person=same,
                       evidence={"different_person": {"source": source, "n": int(len(diff)), "p1": d_hi},
                                 "same_person_split_half": {"n": int(len(same)), "p95": s95}})



def calibrate_merge_radius(corpus: Corpus, labels: np.ndarray, strays: np.ndarray, radius: float,
                           distance: float, fence: float = 3.0, window: int = 64, stride: Optional[int] = None,
                           neighbours: int = 16) -> Calibration:
    """r_merge: far-out fence of crop distances inside the identities complete linkage at d would build.

    Levels 2 and 3 are run once with the radius check switched off; the crops of every identity
    they build from two or more parts give the distance distribution of merged identities.
    """
    from .levels import level2, level3

    trial = level2(corpus, labels, strays, radius, distance, merge_radius=2.0, progress=False).labels
    trial = level3(corpus, trial, 2.0, distance, window=window, stride=stride, neighbours=neighbours,
                   progress=False).labels
    x = corpus.features
    n_groups = int(trial.max()) + 1 if (trial >= 0).any() else 0
    parts = np.zeros(n_groups, np.int64)
    ok = (trial >= 0) & (labels >= 0)
    pairs = np.unique(trial[ok] * (int(labels.max()) + 1) + labels[ok])
    np.add.at(parts, pairs // (int(labels.max()) + 1), 1)
    merged = np.where((trial >= 0) & (parts[np.maximum(trial, 0)] >= 2), trial, -1)
    if (merged >= 0).sum() < 10:
        return Calibration(merge_radius=radius, why={"merge_radius": (
            f"r_merge={radius:.4g}: no identities would merge at d={distance:.4g}, so the level-1 radius is kept")})
    sums, _ = group_sums(x, merged, n_groups)
    d = distances_to_centroids(x, merged, unit_centroids(sums))
    d = d[np.isfinite(d)]
    q1, q3 = np.percentile(d, [25, 75])
    rm = float(max(radius, min(2.0, q3 + fence * (q3 - q1))))
    n_ids = int(len(np.unique(merged[merged >= 0])))
    why = (f"r_merge={rm:.4g}: far-out fence Q3 + {fence:g}*IQR of {len(d)} crop distances to the centroids of the "
           f"{n_ids} identities that complete linkage at d alone would build from 2+ parts (Q1={q1:.4g}, "
           f"Q3={q3:.4g}); never below r")
    return Calibration(merge_radius=rm, why={"merge_radius": why},
                       evidence={"trial_merged_identities": {"identities": n_ids, "crops": int(len(d)),
                                                             "q1": float(q1), "q3": float(q3)}})
