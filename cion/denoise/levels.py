"""The three denoising levels of CION's progressive identity correlation seeking.

Every level maps a labelling (one identity label per row, -1 = dropped) to a new one under the
same two criteria: an identity's radius (largest member distance to its centroid) <= r, and two
identities whose centroids are closer than d are the same person. Merges are accepted
complete-linkage style: every pair of parts must be closer than d and the merged identity must
still have radius <= r, so A~B and B~C never pull A and C together when A and C are far apart.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import faiss
import numpy as np
from tqdm.auto import tqdm

from .corpus import Corpus
from .noise import distances_to_centroids, group_max, group_sums, unit_centroids


@dataclass
class LevelResult:
    """A level's new labelling plus what it did (rows dropped and reassigned, merges)."""

    labels: np.ndarray
    dropped: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))     # rows newly dropped
    reassigned: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # rows moved to another identity
    merges: int = 0
    info: Dict[str, object] = field(default_factory=dict)


# ---------------------------------------------------------------- level 1

def trim_to_radius(x: np.ndarray, labels: np.ndarray, radius: float,
                   groups: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Drop the farthest member of every identity whose radius exceeds r, re-centre, repeat.

    Vectorised over identities: each pass measures only the rows of identities still in
    violation and removes one sample from each of them, updating the centroid sums in place.
    Returns (new labels, dropped rows). `groups` limits the work to those identities.
    """
    labels = labels.copy()
    n_groups = int(labels.max()) + 1 if (labels >= 0).any() else 0
    if n_groups == 0:
        return labels, np.zeros(0, np.int64)
    sums, counts = group_sums(x, labels, n_groups)
    active = np.zeros(n_groups, bool)
    active[np.arange(n_groups) if groups is None else groups] = True
    rows = np.flatnonzero(active[np.maximum(labels, 0)] & (labels >= 0))
    dropped: List[np.ndarray] = []
    while len(rows):
        cents = unit_centroids(sums)  # cheap: (G, d); keeps one code path for all passes
        lab = labels[rows]
        dist = distances_to_centroids(x, labels, cents, rows)
        gmax = group_max(dist.astype(np.float64), lab, n_groups)
        bad = (gmax > radius) & (counts > 1)
        if not bad.any():
            break
        cand = np.flatnonzero(bad[lab] & (dist >= gmax[lab].astype(np.float32)))
        _, first = np.unique(lab[cand], return_index=True)
        drop_rows = rows[cand[first]]
        drop_groups = labels[drop_rows]
        np.subtract.at(sums, drop_groups, x[drop_rows])
        counts[drop_groups] -= 1
        labels[drop_rows] = -1
        dropped.append(drop_rows)
        rows = rows[bad[lab] & (labels[rows] >= 0)]
    out = np.concatenate(dropped) if dropped else np.zeros(0, np.int64)
    return labels, np.sort(out)


def level1(corpus: Corpus, labels: np.ndarray, radius: float) -> LevelResult:
    """Single-tracklet denoising: per tracklet, drop the farthest sample until radius <= r."""
    new, dropped = trim_to_radius(corpus.features, labels, radius)
    return LevelResult(new, dropped=dropped)


# ---------------------------------------------------------------- merging helpers

class _Clusters:
    """Union-find over identities with member lists and summed features (merges are rare)."""

    def __init__(self, n: int, sums: np.ndarray):
        self.parent = np.arange(n)
        self.members: Dict[int, List[int]] = {}
        self.sums = sums

    def find(self, i: int) -> int:
        p = self.parent
        root = i
        while p[root] != root:
            root = p[root]
        while p[i] != root:  # path compression keeps later finds O(1)
            p[i], i = root, p[i]
        return root

    def parts(self, root: int) -> List[int]:
        return self.members.get(root, [root])

    def union(self, a: int, b: int) -> int:
        if len(self.parts(a)) < len(self.parts(b)):
            a, b = b, a
        self.members[a] = self.parts(a) + self.parts(b)
        self.members.pop(b, None)
        self.parent[b] = a
        self.sums[a] = self.sums[a] + self.sums[b]
        return a

    def roots(self) -> np.ndarray:
        return np.array([self.find(i) for i in range(len(self.parent))], dtype=np.int64)


def _merged_radius(x: np.ndarray, rows: np.ndarray, summed: np.ndarray) -> float:
    c = summed / max(float(np.linalg.norm(summed)), 1e-12)
    return float(1.0 - (x[rows] @ c.astype(np.float32)).min()) if len(rows) else 0.0


# ---------------------------------------------------------------- level 2

def _cooccurrence(local: np.ndarray, frames: np.ndarray, k: int) -> np.ndarray:
    """(k, k) bool: identities whose frame spans overlap, so they were on screen together.

    Spans (first to last crop frame) rather than shared frames, because miners keep only a sample
    of each track's crops: two people walking side by side rarely have crops of the very same frame.
    A tracker never follows one person with two live tracks, so overlapping spans mean two people.
    """
    if len(local) == 0:
        return np.zeros((k, k), bool)
    first = np.full(k, np.iinfo(np.int64).max)
    last = np.full(k, np.iinfo(np.int64).min)
    np.minimum.at(first, local, frames)
    np.maximum.at(last, local, frames)
    co = (first[:, None] <= last[None, :]) & (first[None, :] <= last[:, None])
    np.fill_diagonal(co, False)
    return co


def level2(corpus: Corpus, labels: np.ndarray, strays: np.ndarray, radius: float, distance: float,
           merge_radius: Optional[float] = None, progress: bool = True) -> LevelResult:
    """Short-range single-video denoising: reassign strays to a fitting tracklet, then merge tracklets.

    `strays` are rows dropped by level 1. A stray joins the nearest identity of its video when it
    lies within r of that centroid (and, when frames are known, that identity has no crop in the
    stray's frame). Identities of one video whose centroids are closer than d merge, complete-linkage
    style, never across identities on screen at the same time (overlapping frame spans), and only
    when the merged radius stays
    <= `merge_radius` (default r).
    """
    merge_radius = radius if merge_radius is None else merge_radius
    x = corpus.features
    labels = labels.copy()
    n_groups = int(labels.max()) + 1 if (labels >= 0).any() else 0
    bounds = corpus.video_bounds()
    frame = corpus.frame
    is_stray = np.zeros(corpus.n, bool)
    is_stray[strays] = True
    sums, _ = group_sums(x, labels, n_groups)
    cents = unit_centroids(sums)
    moved: List[np.ndarray] = []
    for v in range(corpus.n_videos):
        s, e = bounds[v], bounds[v + 1]
        srows = s + np.flatnonzero(is_stray[s:e])
        lab = labels[s:e]
        groups = np.unique(lab[lab >= 0])
        if len(srows) == 0 or len(groups) == 0:
            continue
        dist = 1.0 - x[srows] @ cents[groups].T
        if frame is not None:  # an identity already seen in the stray's frame cannot take it
            kept = np.flatnonzero(lab >= 0)
            span = int(frame[s:e].max()) + 1
            taken = np.searchsorted(groups, lab[kept]) * span + frame[s + kept]
            want = np.arange(len(groups))[None, :] * span + frame[srows][:, None]
            dist[np.isin(want, taken)] = np.inf
        best = dist.argmin(1)
        ok = dist[np.arange(len(srows)), best] <= radius
        labels[srows[ok]] = groups[best[ok]]
        moved.append(srows[ok])
    reassigned = np.sort(np.concatenate(moved)) if moved else np.zeros(0, np.int64)
    # A centroid pulled by its new members can push an old one past r: trim the touched identities.
    labels, trimmed = trim_to_radius(x, labels, radius, groups=np.unique(labels[reassigned]))
    reassigned = np.setdiff1d(reassigned, trimmed)

    sums, _ = group_sums(x, labels, n_groups)
    cents = unit_centroids(sums)
    merges = 0
    blocked = {"radius": 0, "linkage": 0, "cooccur": 0}
    for v in tqdm(range(corpus.n_videos), desc="level 2 videos", unit="video", disable=not progress,
                  dynamic_ncols=True, leave=False):
        s, e = bounds[v], bounds[v + 1]
        lab = labels[s:e]
        kept = np.flatnonzero(lab >= 0)
        groups = np.unique(lab[kept])
        k = len(groups)
        if k < 2:
            continue
        c = cents[groups]
        dist = 1.0 - c @ c.T
        local = np.searchsorted(groups, lab[kept])
        if frame is not None:
            # Spans from each identity's own tracklet crops: a reassigned stray was cut from another
            # track at another time and would make the span lie.
            native = lab[kept] == corpus.tracklet[s + kept]
            co = _cooccurrence(local[native], frame[s + kept][native], k)
        else:
            co = np.zeros((k, k), bool)
        iu, ju = np.nonzero(np.triu(dist < distance, 1))
        if len(iu) == 0:
            continue
        order = np.argsort(dist[iu, ju], kind="stable")
        cl = _Clusters(k, sums[groups].astype(np.float64))
        for i, j in zip(iu[order], ju[order]):
            a, b = cl.find(int(i)), cl.find(int(j))
            if a == b:
                continue
            pa, pb = cl.parts(a), cl.parts(b)
            if co[np.ix_(pa, pb)].any():
                blocked["cooccur"] += 1
                continue
            if (dist[np.ix_(pa, pb)] >= distance).any():
                blocked["linkage"] += 1
                continue
            rows = s + kept[np.isin(local, pa + pb)]
            if _merged_radius(x, rows, cl.sums[a] + cl.sums[b]) > merge_radius:
                blocked["radius"] += 1
                continue
            cl.union(a, b)
            merges += 1
        roots = cl.roots()
        if (roots != np.arange(k)).any():
            labels[s + kept] = groups[roots[local]]
    return LevelResult(labels, dropped=trimmed, reassigned=reassigned, merges=merges,
                       info={"blocked_merges": blocked})


# ---------------------------------------------------------------- level 3

def video_windows(n_videos: int, window: int, stride: int) -> List[Tuple[int, int]]:
    """[start, end) ranges over video positions; consecutive windows overlap by window - stride."""
    if n_videos <= window:
        return [(0, n_videos)]
    starts = list(range(0, n_videos - window + 1, stride))
    if starts[-1] + window < n_videos:
        starts.append(n_videos - window)
    return [(s, s + window) for s in starts]


def level3(corpus: Corpus, labels: np.ndarray, radius: float, distance: float, window: int = 64,
           stride: Optional[int] = None, neighbours: int = 16, video_order: Optional[np.ndarray] = None,
           progress: bool = True) -> LevelResult:
    """Long-range cross-video denoising with a sliding window over videos.

    Videos are placed in `video_order` (default: by name, which for recorded footage follows
    source and time). Each window of `window` consecutive videos (advancing by `stride`, default
    window // 2) searches, with FAISS, the `neighbours` nearest identity centroids of every identity
    in the window; pairs from different videos closer than d are merged in order of distance under
    the complete-linkage, radius and one-identity-per-video rules. Cost per window is bounded, so the
    whole level grows linearly with the number of videos.
    """
    x = corpus.features
    stride = max(1, window // 2) if stride is None else stride
    labels = labels.copy()
    n_units = int(labels.max()) + 1 if (labels >= 0).any() else 0
    if n_units < 2:
        return LevelResult(labels)
    sums, counts = group_sums(x, labels, n_units)
    cents = unit_centroids(sums)
    kept = np.flatnonzero(labels >= 0)
    by_unit = kept[np.argsort(labels[kept], kind="stable")]
    unit_start = np.searchsorted(labels[by_unit], np.arange(n_units + 1))
    unit_video = np.full(n_units, -1, np.int64)
    unit_video[labels[kept]] = corpus.video[kept]
    if video_order is None:
        video_order = np.arange(corpus.n_videos)
    pos = np.empty(corpus.n_videos, np.int64)
    pos[np.asarray(video_order)] = np.arange(corpus.n_videos)
    live = counts > 0
    units_sorted = np.flatnonzero(live)[np.argsort(pos[unit_video[live]], kind="stable")]
    unit_pos = pos[unit_video[units_sorted]]

    cl = _Clusters(n_units, sums.astype(np.float64))
    videos: Dict[int, set] = {}
    merges = 0
    blocked = {"radius": 0, "linkage": 0, "same_video": 0}
    candidates = 0
    windows = video_windows(corpus.n_videos, window, stride)
    for ws, we in tqdm(windows, desc="level 3 windows", unit="window", disable=not progress,
                       dynamic_ncols=True, leave=False):
        lo, hi = np.searchsorted(unit_pos, [ws, we])
        ids = units_sorted[lo:hi]
        if len(ids) < 2:
            continue
        index = faiss.IndexFlatIP(x.shape[1])
        wc = np.ascontiguousarray(cents[ids])
        index.add(wc)
        k = min(len(ids), neighbours + 1)
        sims, nn = index.search(wc, k)
        qi = np.repeat(np.arange(len(ids)), k)
        nj = nn.ravel()
        sv = sims.ravel()
        ok = (nj >= 0) & (sv > 1.0 - distance)
        qi, nj, sv = qi[ok], nj[ok], sv[ok]
        a_units, b_units = ids[qi], ids[nj]
        ok = unit_video[a_units] != unit_video[b_units]
        a_units, b_units, sv = a_units[ok], b_units[ok], sv[ok]
        lo_u, hi_u = np.minimum(a_units, b_units), np.maximum(a_units, b_units)
        pair_key, first = np.unique(lo_u * n_units + hi_u, return_index=True)
        order = first[np.argsort(-sv[first], kind="stable")]
        candidates += len(order)
        for i, j in zip(lo_u[order], hi_u[order]):
            a, b = cl.find(int(i)), cl.find(int(j))
            if a == b:
                continue
            va = videos.get(a) or {int(unit_video[a])}
            vb = videos.get(b) or {int(unit_video[b])}
            if va & vb:  # level 2 already judged two identities of one video to be different people
                blocked["same_video"] += 1
                continue
            pa, pb = cl.parts(a), cl.parts(b)
            if (cents[pa] @ cents[pb].T).min() <= 1.0 - distance:
                blocked["linkage"] += 1
                continue
            rows = np.concatenate([by_unit[unit_start[u]:unit_start[u + 1]] for u in pa + pb])
            if _merged_radius(x, rows, cl.sums[a] + cl.sums[b]) > radius:
                blocked["radius"] += 1
                continue
            root = cl.union(a, b)
            videos[root] = va | vb
            videos.pop(a if root == b else b, None)
            merges += 1
    roots = cl.roots()
    labels[kept] = roots[labels[kept]]
    return LevelResult(labels, merges=merges,
                       info={"blocked_merges": blocked, "windows": len(windows), "window": window,
                             "stride": stride, "neighbours": neighbours, "candidate_pairs": int(candidates)})
