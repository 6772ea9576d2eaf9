"""Quality of mined tracks against MOTChallenge ground truth: HOTA / MOTA / IDF1 and tracklet purity.

The tracking metrics come from `trackers.eval` (a TrackEval-parity implementation); this module
only lines up our outputs with the ground truth, restricted to the frames that were processed.
Tracklet purity is ours: the share of a tracklet's crops that show the tracklet's majority
ground-truth person, where a crop shows the person whose box it overlaps most (IoU >= 0.3: purity
asks *who*, not how well the box fits, which the tracking metrics judge at IoU 0.5); a crop that
matches nobody counts against purity.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from trackers.eval import box_iou, compute_clear_metrics, compute_hota_metrics, compute_identity_metrics

from cion.mining.tracklets import read_tracklets


def load_mot(path: str | Path) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """{frame (1-based): (ids (N,), boxes xywh (N,4))} from a MOTChallenge gt.txt / tracks file."""
    path = Path(path)
    if path.stat().st_size == 0:
        return {}
    rows = np.loadtxt(path, delimiter=",", ndmin=2, usecols=range(6))
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    frames = rows[:, 0].astype(int)
    for f in np.unique(frames):
        sel = rows[frames == f]
        out[int(f)] = (sel[:, 1].astype(int), sel[:, 2:6].astype(np.float64))
    return out


def processed_frames(summary: dict) -> list[int]:
    """1-based numbers of the frames a video's mining run looked at (from its summary.json)."""
    start, stride = summary.get("frame_start", 0), summary.get("frame_stride", 1)
    return [start + stride * k + 1 for k in range(summary["frames_processed"])]


def tracking_metrics(gt: dict, tracks: dict, frames: list[int], iou: float = 0.5) -> dict:
    """HOTA, MOTA, IDF1 (and their parts) of `tracks` against `gt` over the given 1-based frames."""
    gt_map: dict[int, int] = {}
    tr_map: dict[int, int] = {}
    gt_ids, tr_ids, sims = [], [], []
    empty = (np.zeros(0, dtype=int), np.zeros((0, 4)))
    for f in frames:
        g_ids, g_boxes = gt.get(f, empty)
        t_ids, t_boxes = tracks.get(f, empty)
        gt_ids.append(np.array([gt_map.setdefault(int(i), len(gt_map)) for i in g_ids], dtype=int))
        tr_ids.append(np.array([tr_map.setdefault(int(i), len(tr_map)) for i in t_ids], dtype=int))
        sims.append(box_iou(g_boxes, t_boxes, box_format="xywh") if len(g_boxes) and len(t_boxes)
                    else np.zeros((len(g_boxes), len(t_boxes))))
    clear = compute_clear_metrics(gt_ids, tr_ids, sims, threshold=iou)
    ident = compute_identity_metrics(gt_ids, tr_ids, sims, threshold=iou)
    hota = compute_hota_metrics(gt_ids, tr_ids, sims)
    return {"HOTA": hota["HOTA"], "DetA": hota["DetA"], "AssA": hota["AssA"],
            "MOTA": clear["MOTA"], "IDF1": ident["IDF1"], "IDP": ident["IDP"], "IDR": ident["IDR"],
            "IDSW": int(clear["IDSW"]), "gt_ids": len(gt_map), "track_ids": len(tr_map)}


def tracklet_purity(records: list[dict], gt: dict, iou: float = 0.3) -> dict:
    """Purity of mined tracklets: crops of the majority true person / all crops (crop-weighted),
    plus the mean over tracklets, the share of crops matching nobody and how many people were found."""
    labels: dict[int, list[int]] = defaultdict(list)
    empty = (np.zeros(0, dtype=int), np.zeros((0, 4)))
    for r in records:
        g_ids, g_boxes = gt.get(r["frame"] + 1, empty)
        label = -1
        if len(g_ids):
            ious = box_iou(np.asarray([r["bbox"]], dtype=np.float64), g_boxes, box_format="xywh")[0]
            if ious.max() >= iou:
                label = int(g_ids[int(ious.argmax())])
        labels[r["tracklet"]].append(label)
    majority = {t: Counter(v).most_common(1)[0] for t, v in labels.items()}
    n_crops = sum(len(v) for v in labels.values())
    pure = sum(count for label, count in majority.values() if label != -1)
    per_tracklet = [count / len(labels[t]) if label != -1 else 0.0 for t, (label, count) in majority.items()]
    people = {label for label, _ in majority.values() if label != -1}
    return {"purity": pure / n_crops if n_crops else float("nan"),
            "mean_tracklet_purity": float(np.mean(per_tracklet)) if per_tracklet else float("nan"),
            "unmatched_crops": sum(v.count(-1) for v in labels.values()) / n_crops if n_crops else float("nan"),
            "tracklets": len(labels), "crops": n_crops, "people_found": len(people),
            "people_in_gt": len({int(i) for ids, _ in gt.values() for i in ids})}


def evaluate_video(out: str | Path, video: str, gt_path: str | Path) -> dict:
    """Tracking metrics of OUT/videos/<video>/tracks.txt and purity of its tracklets against gt_path."""
    folder = Path(out) / "videos" / video
    summary = json.loads((folder / "summary.json").read_text())
    gt = load_mot(gt_path)
    frames = processed_frames(summary)
    result = {"video": video, "frames": len(frames)}
    result.update(tracking_metrics(gt, load_mot(folder / "tracks.txt"), frames))
    # Purity is judged on the processed frames' ground truth only, like the tracks.
    result.update(tracklet_purity(list(read_tracklets(folder / "tracklets.jsonl")),
                                  {f: gt[f] for f in frames if f in gt}))
    return result


def evaluate_synthetic(out: str | Path, synthetic_root: str | Path) -> dict:
    """Per-video and pooled quality of a mining run over a `make_videos` folder (uses its gt/<video>/gt.txt).

    Pooled numbers weight videos by crops (purity) or frames (the tracking metrics' mean).
    """
    out, root = Path(out), Path(synthetic_root)
    per_video = []
    for folder in sorted((out / "videos").glob("*")):
        gt_path = root / "gt" / folder.name / "gt.txt"
        if folder.name.startswith(".") or not (folder / "summary.json").exists() or not gt_path.exists():
            continue
        per_video.append(evaluate_video(out, folder.name, gt_path))
    if not per_video:
        raise FileNotFoundError(f"no mined video of {out} has ground truth under {root / 'gt'}")
    crops = sum(v["crops"] for v in per_video)
    frames = sum(v["frames"] for v in per_video)
    pooled = {"videos": len(per_video), "tracklets": sum(v["tracklets"] for v in per_video), "crops": crops,
              "purity": sum(v["purity"] * v["crops"] for v in per_video if v["crops"]) / crops if crops else float("nan")}
    for k in ("HOTA", "MOTA", "IDF1", "DetA", "AssA"):
        pooled[k] = sum(v[k] * v["frames"] for v in per_video) / frames
    pooled["IDSW"] = sum(v["IDSW"] for v in per_video)
    pooled["people_found"] = sum(v["people_found"] for v in per_video)
    pooled["people_in_gt"] = sum(v["people_in_gt"] for v in per_video)
    return {"pooled": pooled, "per_video": per_video}
