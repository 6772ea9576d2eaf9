"""Denoising outputs: annotations.json (CION-AL), dropped.jsonl, denoise_report.json and PNG histograms.

Everything is first written under temporary names in the output folder and renamed into place only
once every file is complete, so a failure never leaves a half-written or mixed set behind.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from .corpus import Corpus
from .pipeline import REASONS, RoundResult

ANNOTATIONS = "annotations.json"
REPORT = "denoise_report.json"
DROPPED = "dropped.jsonl"
RADII_PNG = "radii.png"
DISTANCES_PNG = "centroid_distances.png"


class _Staged:
    """Files written to temp names in `out`, renamed together by commit()."""

    def __init__(self, out: Path):
        self.out = out
        self.tmp: List[tuple] = []

    def path(self, name: str) -> str:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.out)
        os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; outputs should read like any other file
        self.tmp.append((tmp, self.out / name))
        return tmp

    def commit(self) -> None:
        for tmp, final in self.tmp:
            os.replace(tmp, final)
        self.tmp = []

    def abort(self) -> None:
        for tmp, _ in self.tmp:
            if os.path.exists(tmp):
                os.unlink(tmp)


def annotation_records(file_path: np.ndarray, labels: np.ndarray) -> List[Dict[str, object]]:
    """CION-AL records for labelled rows, sorted by id and then path (ids must already be contiguous)."""
    rows = np.flatnonzero(labels >= 0)
    order = np.lexsort((file_path[rows], labels[rows]))
    rows = rows[order]
    return [{"file_path": str(p), "id": int(i)} for p, i in zip(file_path[rows], labels[rows])]


def _plot(path: str, series: Dict[str, np.ndarray], lines: Dict[str, Optional[float]], title: str,
          xlabel: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    allv = np.concatenate([v[np.isfinite(v)] for v in series.values() if len(v)] or [np.zeros(1)])
    hi = float(max(np.percentile(allv, 99.5) if len(allv) else 1.0, *(v for v in lines.values() if v)))
    bins = np.linspace(0.0, hi * 1.05 + 1e-6, 80)
    for name, v in series.items():
        v = v[np.isfinite(v)]
        if len(v):
            ax.hist(np.clip(v, 0, bins[-1]), bins=bins, histtype="step", linewidth=1.4, label=f"{name} (n={len(v)})")
    colors = ["black", "tab:red", "tab:purple"]
    for (name, val), col in zip(lines.items(), colors):
        if val is not None:
            ax.axvline(val, color=col, linestyle="--", linewidth=1.2, label=f"{name} = {val:.3f}")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("identities (log)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def write_outputs(out_dir, corpus: Corpus, rounds: List[RoundResult], final: np.ndarray,
                  reason: np.ndarray, extra: Optional[Dict[str, object]] = None) -> Dict[str, str]:
    """Write the annotation set, dropped crops, report and histograms into `out_dir` atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    last = rounds[-1]
    th = last.thresholds
    stage = _Staged(out)
    try:
        records = annotation_records(corpus.file_path, final)
        with open(stage.path(ANNOTATIONS), "w", encoding="utf-8") as fh:
            fh.write(json.dumps(records))  # dumps uses the C encoder; dump streams in Python
        with open(stage.path(DROPPED), "w", encoding="utf-8") as fh:
            for i in np.flatnonzero(final < 0):
                rec = {"file_path": str(corpus.file_path[i]), "video": str(corpus.video_names[corpus.video[i]]),
                       "tracklet": int(corpus.tracklet_ids[corpus.tracklet[i]]), "reason": str(reason[i]),
                       "why": REASONS.get(str(reason[i]), "")}
                if corpus.frame is not None:
                    rec["frame"] = int(corpus.frame[i])
                fh.write(json.dumps(rec) + "\n")
        counts = {k: int((reason == k).sum()) for k in REASONS}
        report = {"output": {"annotations": ANNOTATIONS, "dropped": DROPPED, "images": len(records),
                             "identities": int(final.max()) + 1 if len(records) else 0,
                             "dropped_images": int((final < 0).sum()), "dropped_by_reason": counts,
                             "plots": [RADII_PNG, DISTANCES_PNG]},
                  **(extra or {}),
                  "rounds": [r.report for r in rounds]}
        with open(stage.path(REPORT), "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2, default=_json_default)
        _plot(stage.path(RADII_PNG), {k: v["radii"] for k, v in last.histograms.items()},
              {"r (tracklets)": th["radius"], "r_merge (merged identities)": th.get("merge_radius")},
              "Identity radius (largest member distance to centroid)", "cosine distance")
        _plot(stage.path(DISTANCES_PNG), {k: v["nearest"] for k, v in last.histograms.items()},
              {"d": th.get("distance")}, "Distance from each identity centroid to its nearest other centroid",
              "cosine distance")
        stage.commit()
    except BaseException:
        stage.abort()
        raise
    return {k: str(out / k) for k in (ANNOTATIONS, DROPPED, REPORT, RADII_PNG, DISTANCES_PNG)}


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o)}")
