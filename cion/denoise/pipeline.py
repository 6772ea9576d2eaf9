"""Progressive denoising: levels 1 -> 2 -> 3 per round, N rounds, thresholds calibrated when not given."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from .calibrate import calibrate_distance, calibrate_merge_radius, calibrate_radius
from .corpus import Corpus, describe
from .levels import LevelResult, level1, level2, level3
from .noise import compact_labels, criteria_stats


@dataclass
class RoundConfig:
    """Thresholds and level-3 window of one round; None thresholds are calibrated from the data."""

    radius: Optional[float] = None
    distance: Optional[float] = None
    merge_radius: Optional[float] = None
    window: int = 64
    stride: Optional[int] = None
    neighbours: int = 16
    levels: Sequence[int] = (1, 2, 3)


# Reasons a crop leaves the labelled set, as written to dropped.jsonl.
REASONS = {"invalid_feature": "feature vector not finite or all zero",
           "level1": "farther than r from its tracklet centroid",
           "level2": "farther than r from its identity after strays were reassigned",
           "small_identity": "identity smaller than --min-images after denoising"}


@dataclass
class RoundResult:
    """Labels after each level of one round, the thresholds used and the report entries."""

    labels: Dict[str, np.ndarray]           # "raw", "level1", "level2", "level3" -> (N,) labels
    drop_reason: np.ndarray                 # (N,) object: "" kept, else a key of REASONS
    thresholds: Dict[str, float]
    report: Dict[str, object]
    histograms: Dict[str, Dict[str, np.ndarray]] = field(default_factory=dict)

    @property
    def final(self) -> np.ndarray:
        return self.labels[list(self.labels)[-1]]


def _say(log: Optional[Callable[[str], None]], msg: str) -> None:
    if log is not None:
        log(msg)


def _counts(before: np.ndarray, after: np.ndarray) -> Dict[str, int]:
    return {"images_before": int((before >= 0).sum()), "images_after": int((after >= 0).sum()),
            "identities_before": int(len(np.unique(before[before >= 0]))),
            "identities_after": int(len(np.unique(after[after >= 0])))}


def run_round(corpus: Corpus, cfg: RoundConfig, log: Optional[Callable[[str], None]] = print,
              progress: bool = True, max_queries: int = 5000) -> RoundResult:
    """One round of levels 1-3 on `corpus`, starting from its raw tracklets."""
    x = corpus.features
    raw = corpus.tracklet_labels()
    reason = np.full(corpus.n, "", dtype=object)
    reason[~corpus.valid] = "invalid_feature"
    why: Dict[str, str] = {}
    evidence: Dict[str, object] = {}
    t0 = time.perf_counter()
    r = cfg.radius
    if r is None:
        cal = calibrate_radius(corpus, raw)
        r, why, evidence = cal.radius, {**why, **cal.why}, {**evidence, **cal.evidence}
        _say(log, f"calibrated {cal.why['radius']}")
    labels: Dict[str, np.ndarray] = {"raw": raw}
    levels: List[Dict[str, object]] = []
    hist: Dict[str, Dict[str, np.ndarray]] = {}
    stats, radii, nearest = criteria_stats(x, raw, r, cfg.distance or 0.0, max_queries)
    hist["raw"] = {"radii": radii, "nearest": nearest}
    stats_by: Dict[str, Dict[str, object]] = {"raw": stats}
    current = raw
    d, rm = cfg.distance, cfg.merge_radius

    def record(name: str, res: LevelResult, before: np.ndarray, seconds: float) -> None:
        nonlocal current
        labels[name] = res.labels
        st, rad, near = criteria_stats(x, res.labels, rm if name != "level1" else r, d or 0.0, max_queries)
        stats_by[name] = st
        hist[name] = {"radii": rad, "nearest": near}
        entry = {"level": name, **_counts(before, res.labels), "dropped": int(len(res.dropped)),
                 "reassigned": int(len(res.reassigned)), "merges": int(res.merges), "seconds": round(seconds, 3),
                 "before": stats_by[list(stats_by)[-2]], "after": st, **res.info}
        levels.append(entry)
        _say(log, f"{name}: {entry['identities_before']} -> {entry['identities_after']} identities, "
                  f"{entry['images_before']} -> {entry['images_after']} images, {entry['dropped']} dropped, "
                  f"{entry['reassigned']} reassigned, {entry['merges']} merges ({seconds:.1f}s)")
        current = res.labels

    strays = np.zeros(0, np.int64)
    if 1 in cfg.levels:
        t = time.perf_counter()
        res = level1(corpus, current, r)
        reason[res.dropped] = "level1"
        strays = res.dropped
        record("level1", res, current, time.perf_counter() - t)
    if d is None and (2 in cfg.levels or 3 in cfg.levels):
        cal = calibrate_distance(corpus, current)
        d, why, evidence = cal.distance, {**why, **cal.why}, {**evidence, **cal.evidence}
        _say(log, f"calibrated {cal.why['distance']}")
    if rm is None and (2 in cfg.levels or 3 in cfg.levels):
        cal = calibrate_merge_radius(corpus, current, strays, r, d, window=cfg.window, stride=cfg.stride,
                                     neighbours=cfg.neighbours)
        rm, why, evidence = cal.merge_radius, {**why, **cal.why}, {**evidence, **cal.evidence}
        _say(log, f"calibrated {cal.why['merge_radius']}")
    if 2 in cfg.levels:
        t = time.perf_counter()
        res = level2(corpus, current, strays, r, d, merge_radius=rm, progress=progress)
        reason[res.reassigned] = ""
        reason[res.dropped] = "level2"
        record("level2", res, current, time.perf_counter() - t)
    if 3 in cfg.levels:
        t = time.perf_counter()
        res = level3(corpus, current, rm, d, window=cfg.window, stride=cfg.stride, neighbours=cfg.neighbours,
                     progress=progress)
        record("level3", res, current, time.perf_counter() - t)
    # Snapshots taken before d and r_merge were calibrated are judged again with the final thresholds.
    for name, st in stats_by.items():
        bound = r if name in ("raw", "level1") else (rm if rm is not None else r)
        rad, near = hist[name]["radii"], hist[name]["nearest"]
        st["radius_bound"] = float(bound)
        st["radius_ok_fraction"] = float((rad <= bound).mean()) if len(rad) else 1.0
        if d is not None:
            st["distance_ok_fraction"] = float((near >= d).mean()) if len(near) else 1.0
    thresholds = {"radius": float(r), "distance": None if d is None else float(d),
                  "merge_radius": None if rm is None else float(rm)}
    report = {"thresholds": thresholds, "calibration": {"why": why, "evidence": evidence},
              "input": describe(corpus), "raw": stats_by["raw"], "levels": levels,
              "seconds": round(time.perf_counter() - t0, 3)}
    return RoundResult(labels, reason, thresholds, report, hist)


def finalize_labels(labels: np.ndarray, reason: np.ndarray, min_images: int = 2) -> np.ndarray:
    """Drop identities smaller than `min_images` (marking why) and relabel to contiguous ids."""
    labels = labels.copy()
    ok = labels >= 0
    if ok.any():
        sizes = np.bincount(labels[ok])
        small = ok & (sizes[np.maximum(labels, 0)] < min_images)
        reason[small] = "small_identity"
        labels[small] = -1
    return compact_labels(labels)


def run_rounds(corpus: Corpus, rounds: Sequence[RoundConfig],
               features_for_round: Optional[Callable[[int, Optional[np.ndarray]], Optional[np.ndarray]]] = None,
               log: Optional[Callable[[str], None]] = print, progress: bool = True) -> List[RoundResult]:
    """N progressive rounds. Each round restarts from the raw tracklets (a better model may rescue
    crops an earlier round dropped) with its own thresholds; `features_for_round(k, prev_labels)`
    may return new (N, d) features in corpus row order for round k, e.g. from a model pre-trained on
    round k-1's labels."""
    from .noise import l2_normalize

    out: List[RoundResult] = []
    prev = None
    for k, cfg in enumerate(rounds):
        if k > 0 and features_for_round is not None:
            feats = features_for_round(k, prev)
            if feats is not None:
                feats = np.asarray(feats, dtype=np.float32)
                if feats.shape[0] != corpus.n:
                    raise ValueError(f"round {k + 1} features have {feats.shape[0]} rows, corpus has {corpus.n}")
                valid = np.isfinite(feats).all(1)
                feats[~valid] = 0.0
                corpus.features = l2_normalize(feats)
                corpus.valid = valid & (np.abs(feats).max(1) > 0)
        if len(rounds) > 1:
            _say(log, f"== round {k + 1}/{len(rounds)}")
        res = run_round(corpus, cfg, log=log, progress=progress)
        out.append(res)
        prev = res.final
    return out
