"""Mining jobs: one video -> tracklets folder (atomic), many videos -> process pool, shards, resume.

Output layout under OUT:
    videos/<video>/crops/<tracklet>/<frame>.jpg   crops (JPEG, box plus a small margin)
    videos/<video>/tracklets.jsonl                this video's lines of the contract
    videos/<video>/tracks.txt                     every confirmed tracker box, MOTChallenge format
    videos/<video>/det.txt                        every detection (MOTChallenge det format): re-track
                                                  later with `--detector file --detections OUT/videos`
    videos/<video>/summary.json                   counts, filter statistics, timings, settings
    tracklets.jsonl                               all finished videos, rebuilt after each run
    run_summary.json                              (run_summary.shard<i>-of-<n>.json when sharded)
A video folder appears only once complete (it is written under a temporary name and renamed),
so a finished video is skipped on a re-run and an interrupted one is redone.
"""
from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import shutil
import time
import traceback
import uuid
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import cv2
import numpy as np
from tqdm import tqdm

from reidzoo.atomic import atomic_path, atomic_write_text

from cion.mining.detectors import Detector, DetectorUnavailable, build_detector, find_detection_file
from cion.mining.tracking import PersonTracker, TrackerConfig
from cion.mining.tracklets import (Candidate, FilterConfig, TrackletBuffer, box_rejection, encode_jpeg,
                                   appearance, appearance_distance, margin_box, max_covered, sharpness,
                                   tracklet_record, write_jsonl)
from cion.mining.video import VIDEO_EXTENSIONS, VideoError, iter_frames, probe_video, frame_range

log = logging.getLogger(__name__)

STAGES = ("decode", "detect", "track", "filter", "write")


@dataclass
class MiningConfig:
    """Everything that decides what a video's tracklets are (stored in each summary)."""

    detector: str = "hog"
    detector_scale: float = 1.0           # detection runs on frames resized by this factor
    detector_weights: str | None = None   # torchvision / ultralytics weights file
    detector_model: str | None = None     # torchvision architecture name
    detections: str | None = None         # file detector: det.txt or a folder of them
    trust_detector_weights: bool = False  # ultralytics .pt files unpickle fully: only when the user trusts them
    device: str = "cpu"
    stride: int = 1                       # process every stride-th frame
    start_s: float | None = None          # time range in seconds
    end_s: float | None = None
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)

    def to_dict(self) -> dict:
        """Plain dict for summaries."""
        return asdict(self)


_detector_cache: dict[tuple, Detector] = {}


def make_detector(config: MiningConfig, video_stem: str | None = None) -> Detector:
    """The detector for one video (the file detector needs the video's name to find its det.txt).

    Model detectors are built once per process and reused for every video it mines.
    """
    if config.detector == "file":
        if config.detections is None:
            raise DetectorUnavailable("the file detector needs --detections PATH")
        if video_stem is None:
            raise DetectorUnavailable("the file detector needs a video name to find its detections")
        return build_detector("file", detections_file=find_detection_file(config.detections, video_stem))
    key = (config.detector, config.detector_scale, config.detector_weights, config.detector_model, config.device,
           config.trust_detector_weights)
    if key not in _detector_cache:
        _detector_cache[key] = build_detector(config.detector, scale=config.detector_scale,
                                              weights=config.detector_weights, model=config.detector_model,
                                              device=config.device, trust_weights=config.trust_detector_weights)
    return _detector_cache[key]


def check_detector(config: MiningConfig) -> None:
    """Fail early, once, when the detector cannot be built at all (weights or package missing)."""
    if config.detector == "file":
        if not config.detections or not Path(config.detections).exists():
            raise DetectorUnavailable(f"--detections {config.detections!r} does not exist; give a det.txt or a "
                                      "folder holding <video>/det/det.txt, <video>/det.txt or <video>.txt")
        return
    make_detector(config)


class _VideoMiner:
    """State of one video's pass: live tracklet buffers, finished tracklets, statistics."""

    def __init__(self, video: str, info, config: MiningConfig, tmp: Path):
        self.video, self.info, self.config, self.tmp = video, info, config, tmp
        self.filters = config.filters
        self.live: dict[int, TrackletBuffer] = {}
        self.records: list[dict] = []
        self.rejected = {k: 0 for k in ("height", "aspect", "border", "score", "overlap", "blur")}
        self.overlap_cuts = 0
        self.appearance_cuts = 0
        self.short_tracklets = 0
        self.next_tracklet = 0
        self.timings = dict.fromkeys(STAGES, 0.0)

    def add_boxes(self, frame_index: int, frame: np.ndarray, ids: np.ndarray, xyxy: np.ndarray,
                  scores: np.ndarray, detections: np.ndarray, tracker: PersonTracker) -> None:
        """Filter this frame's tracked boxes and keep crops of those that pass.

        A box overlapping another person (a detection or another track's predicted box) is where
        trackers swap identities, so it is dropped and its tracklet is cut in two around it.
        """
        f = self.filters
        h, w = frame.shape[:2]
        for tid, box, score in zip(ids.tolist(), xyxy, scores.tolist()):
            why = box_rejection(box, score, w, h, f)
            if why is None:
                # ByteTrack returns the detection's own box: leave that one out of "other people".
                dets = detections[np.abs(detections - box).max(axis=1) > 1e-3] if len(detections) else detections
                if max(max_covered(box, dets), max_covered(box, tracker.others(tid))) > f.max_overlap:
                    why = "overlap"
            colours = None
            if why is None:
                x1, y1, x2, y2 = margin_box(box, 0.0, w, h)
                if sharpness(frame[y1:y2, x1:x2]) < f.min_sharpness:
                    why = "blur"
                else:
                    colours = appearance(frame[y1:y2, x1:x2])
            buf = self.live.get(tid)
            if buf is None:
                buf = self.live[tid] = TrackletBuffer(capacity=max(2 * f.max_crops, 2))
            buf.last_seen = frame_index
            if why is not None:
                self.rejected[why] += 1
                if why == "overlap" and buf.accepted:
                    buf.interrupted = True
                continue
            # People walking side by side get swapped without overlapping when one of them is missed;
            # a sudden change of colours is the cheap sign of it.
            changed = (buf.colours is not None and f.max_appearance_change < 1.0
                       and appearance_distance(buf.colours, colours) > f.max_appearance_change)
            if buf.interrupted or changed:
                if changed and not buf.interrupted:
                    self.appearance_cuts += 1
                else:
                    self.overlap_cuts += 1
                self._finish(buf)
                buf = self.live[tid] = TrackletBuffer(capacity=max(2 * f.max_crops, 2), last_seen=frame_index)
            buf.colours = colours if buf.colours is None else 0.7 * buf.colours + 0.3 * colours
            mx1, my1, mx2, my2 = margin_box(box, f.crop_margin, w, h)
            buf.add(Candidate(frame_index, box.copy(), float(score), frame[my1:my2, mx1:mx2].copy()))

    def finish_stale(self, frame_index: int, max_gap_frames: int) -> None:
        """Write out tracks the tracker cannot extend any more."""
        for tid in [t for t, b in self.live.items() if frame_index - b.last_seen > max_gap_frames]:
            self._finish(self.live.pop(tid))

    def finish_all(self) -> None:
        """Write out every remaining track (end of video), in order of track id for determinism."""
        for tid in sorted(self.live):
            self._finish(self.live.pop(tid))

    def _finish(self, buf: TrackletBuffer) -> None:
        t0 = time.perf_counter()
        if buf.accepted < self.filters.min_length:
            if buf.accepted > 0:
                self.short_tracklets += 1
            return
        tracklet = self.next_tracklet
        self.next_tracklet += 1
        folder = self.tmp / "crops" / f"{tracklet:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        for c in buf.sample(self.filters.max_crops):
            name = f"{c.frame:07d}.jpg"
            (folder / name).write_bytes(encode_jpeg(c.crop, self.filters.jpeg_quality))
            rel = f"videos/{self.video}/crops/{tracklet:05d}/{name}"
            self.records.append(tracklet_record(self.video, tracklet, c.frame, c.xyxy, c.score, rel))
        self.timings["write"] += time.perf_counter() - t0


def _failure(video: str, path: str, reason: str) -> dict:
    return {"video": video, "path": path, "status": "failed", "reason": reason}


def mine_video(path: str | Path, out: str | Path, config: MiningConfig,
               progress: Callable[[int], None] | None = None, overwrite: bool = False) -> dict:
    """Mine one video into OUT/videos/<stem>/ atomically; returns its summary (status ok/skipped/failed).

    A failure never raises: the summary's `reason` says what was wrong, and nothing is left in OUT.
    """
    path = Path(path)
    video = path.stem
    out = Path(out)
    final = out / "videos" / video
    if (final / "summary.json").exists() and not overwrite:
        return {"video": video, "path": str(path), "status": "skipped", "reason": "already mined"}
    tmp = out / "videos" / f".{video}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    t_start = time.perf_counter()
    try:
        info = probe_video(path)
        detector = make_detector(config, video)
        tracker = PersonTracker(info.fps, config.stride, config.tracker)
        tmp.mkdir(parents=True)
        miner = _VideoMiner(video, info, config, tmp)
        timings = miner.timings
        track_lines: list[str] = []
        det_lines: list[str] = []
        frames = detections = 0
        max_gap = tracker.max_missed_frames * config.stride
        it = iter_frames(path, config.stride, config.start_s, config.end_s)
        while True:
            t0 = time.perf_counter()
            item = next(it, None)
            t1 = time.perf_counter()
            timings["decode"] += t1 - t0
            if item is None:
                break
            index, frame = item
            dets = detector.detect(frame, index)
            t2 = time.perf_counter()
            timings["detect"] += t2 - t1
            ids, xyxy, scores = tracker.update(dets)
            t3 = time.perf_counter()
            timings["track"] += t3 - t2
            detections += len(dets)
            for b, s in zip(dets.xyxy.tolist(), dets.confidence.tolist()):
                det_lines.append(f"{index + 1},-1,{b[0]:.2f},{b[1]:.2f},{b[2] - b[0]:.2f},{b[3] - b[1]:.2f},"
                                 f"{s:.4f},-1,-1,-1\n")
            for tid, b, s in zip(ids.tolist(), xyxy.tolist(), scores.tolist()):
                track_lines.append(f"{index + 1},{tid + 1},{b[0]:.2f},{b[1]:.2f},{b[2] - b[0]:.2f},"
                                   f"{b[3] - b[1]:.2f},{s:.4f},-1,-1,-1\n")
            miner.add_boxes(index, frame, ids, xyxy, scores, dets.xyxy, tracker)
            w_before = timings["write"]
            miner.finish_stale(index, max_gap)
            timings["filter"] += time.perf_counter() - t3 - (timings["write"] - w_before)
            frames += 1
            if progress is not None:
                progress(1)
        miner.finish_all()
        t0 = time.perf_counter()
        miner.records.sort(key=lambda r: (r["tracklet"], r["frame"]))
        write_jsonl(tmp / "tracklets.jsonl", miner.records)
        (tmp / "tracks.txt").write_text("".join(track_lines))
        (tmp / "det.txt").write_text("".join(det_lines))
        start, end = frame_range(info, config.start_s, config.end_s)
        summary = {
            "video": video, "path": str(path), "status": "ok",
            "fps": info.fps, "width": info.width, "height": info.height,
            "frames_in_video": info.frame_count, "frames_processed": frames,
            "frame_start": start, "frame_stride": config.stride,
            "detections": detections, "tracks": len({ln.split(",", 2)[1] for ln in track_lines}),
            "tracklets": miner.next_tracklet, "crops": len(miner.records),
            "rejected_boxes": miner.rejected, "rejected_short_tracklets": miner.short_tracklets,
            "tracklets_cut_at_overlaps": miner.overlap_cuts,
            "tracklets_cut_at_appearance_changes": miner.appearance_cuts,
            "detection_file_problems": getattr(detector, "problems", []),
            "timings_s": {k: round(v, 4) for k, v in timings.items()},
            "elapsed_s": round(time.perf_counter() - t_start, 3),
            "config": config.to_dict(),
        }
        expected = len(range(start, min(end or info.frame_count, info.frame_count), config.stride))
        if info.frame_count and frames < expected:
            summary["warning"] = f"decoded {frames} of ~{expected} expected frames (truncated or corrupt end?)"
        if frames == 0:
            summary["warning"] = "no frames in the requested range (empty video?)"
        timings["write"] += time.perf_counter() - t0
        summary["timings_s"]["write"] = round(timings["write"], 4)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=1))
        if final.exists():
            shutil.rmtree(final)  # only reached with overwrite=True or an incomplete folder
        os.replace(tmp, final)
        return summary
    except (VideoError, DetectorUnavailable, FileNotFoundError, ValueError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        return _failure(video, str(path), str(e))
    except Exception as e:  # an unexpected crash in one video must not stop the others
        shutil.rmtree(tmp, ignore_errors=True)
        log.debug("mining %s crashed:\n%s", path, traceback.format_exc())
        return _failure(video, str(path), f"unexpected error {type(e).__name__}: {e}")


def collect_videos(inputs: Iterable[str | Path]) -> tuple[list[Path], list[dict]]:
    """Video files named by `inputs` (files, or folders searched recursively by extension), sorted,
    plus failures for inputs that do not exist and for videos whose names clash."""
    found: list[Path] = []
    failures: list[dict] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found += sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in VIDEO_EXTENSIONS)
        elif p.exists():
            found.append(p)
        else:
            failures.append(_failure(p.stem, str(p), f"{p}: file not found"))
    by_name: dict[str, Path] = {}
    videos: list[Path] = []
    for p in sorted(set(found), key=lambda q: str(q)):
        if p.stem in by_name:
            failures.append(_failure(p.stem, str(p), f"{p}: same name {p.stem!r} as {by_name[p.stem]}; "
                                     "output folders are named by file stem, rename one"))
            continue
        by_name[p.stem] = p
        videos.append(p)
    return videos, failures


def shard_videos(videos: list[Path], shard: int, num_shards: int) -> list[Path]:
    """The deterministic share of shard `shard` (0-based) of `num_shards`: every n-th video of the sorted list."""
    if num_shards < 1 or not 0 <= shard < num_shards:
        raise ValueError(f"--shard must be in [0, {num_shards}) and --num-shards >= 1, got {shard} / {num_shards}")
    return sorted(videos, key=lambda p: (p.stem, str(p)))[shard::num_shards]


def rebuild_index(out: str | Path) -> int:
    """(Re)write OUT/tracklets.jsonl from every finished video folder, atomically; returns the line count."""
    out = Path(out)
    n = 0
    with atomic_path(out / "tracklets.jsonl") as tmp, open(tmp, "w", encoding="utf-8") as dst:
        for folder in sorted((out / "videos").glob("*")) if (out / "videos").is_dir() else []:
            if folder.name.startswith(".") or not (folder / "summary.json").exists():
                continue
            with open(folder / "tracklets.jsonl", encoding="utf-8") as src:
                for line in src:
                    dst.write(line)
                    n += 1
    return n


_progress_queue = None


def _init_worker(queue) -> None:
    global _progress_queue
    _progress_queue = queue
    cv2.setNumThreads(1)  # one process per core: OpenCV's own threads would oversubscribe
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        pass


def _worker_mine(path: str, out: str, config: MiningConfig, overwrite: bool) -> dict:
    pending = [0]

    def report(n: int) -> None:
        pending[0] += n
        if pending[0] >= 5:
            _progress_queue.put(pending[0])
            pending[0] = 0

    result = mine_video(path, out, config, progress=report, overwrite=overwrite)
    if pending[0]:
        _progress_queue.put(pending[0])
    return result


def _expected_frames(path: Path, config: MiningConfig) -> int:
    try:
        info = probe_video(path)
        start, end = frame_range(info, config.start_s, config.end_s)
        stop = min(end, info.frame_count) if end is not None else info.frame_count
        return len(range(start, stop, config.stride))
    except (VideoError, ValueError):
        return 0


def mine_videos(inputs: Iterable[str | Path], out: str | Path, config: MiningConfig | None = None,
                workers: int = 1, shard: int = 0, num_shards: int = 1, overwrite: bool = False,
                progress: bool = True, on_result: Callable[[dict], None] | None = None) -> dict:
    """Mine every video of `inputs` (this shard's share) into OUT; returns the run summary.

    Finished videos are skipped unless `overwrite`; failures are collected, never raised.
    Raises DetectorUnavailable before any work when the detector cannot be built at all.
    """
    config = config or MiningConfig()
    out = Path(out)
    check_detector(config)
    videos, failures = collect_videos(inputs)
    mine = shard_videos(videos, shard, num_shards)
    out.mkdir(parents=True, exist_ok=True)
    for f in failures:
        if on_result:
            on_result(f)
    todo = [p for p in mine if overwrite or not (out / "videos" / p.stem / "summary.json").exists()]
    results = [{"video": p.stem, "path": str(p), "status": "skipped", "reason": "already mined"}
               for p in mine if p not in todo]
    for r in results:
        if on_result:
            on_result(r)
    t0 = time.perf_counter()
    total = sum(_expected_frames(p, config) for p in todo)
    bar = tqdm(total=total, unit="frame", desc=f"mining {len(todo)} video(s)", disable=not progress or not todo,
               dynamic_ncols=True)

    def done(r: dict) -> None:
        results.append(r)
        if on_result:
            on_result(r)

    if workers <= 1 or len(todo) <= 1:
        for p in todo:
            done(mine_video(p, out, config, progress=bar.update, overwrite=overwrite))
    else:
        ctx = mp.get_context("spawn")  # torch and OpenCV threads are not fork-safe
        with ctx.Manager() as manager:
            queue = manager.Queue()
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                     initargs=(queue,)) as pool:
                futures = {pool.submit(_worker_mine, str(p), str(out), config, overwrite): p for p in todo}
                pending = set(futures)
                while pending:
                    finished, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
                    while not queue.empty():
                        bar.update(queue.get_nowait())
                    for fut in finished:
                        try:
                            done(fut.result())
                        except Exception as e:  # a worker process died (e.g. killed for memory)
                            p = futures[fut]
                            done(_failure(p.stem, str(p), f"worker crashed: {type(e).__name__}: {e}"))
                while not queue.empty():
                    bar.update(queue.get_nowait())
    bar.close()
    wall = time.perf_counter() - t0
    lines = rebuild_index(out)
    ok = [r for r in results if r["status"] == "ok"]
    frames = sum(r["frames_processed"] for r in ok)
    timings = {k: round(sum(r["timings_s"][k] for r in ok), 3) for k in STAGES}
    summary = {
        "videos_in_shard": len(mine), "shard": shard, "num_shards": num_shards,
        "mined": len(ok), "skipped": sum(r["status"] == "skipped" for r in results),
        "failed": failures + [r for r in results if r["status"] == "failed"],
        "tracklets": sum(r["tracklets"] for r in ok), "crops": sum(r["crops"] for r in ok),
        "frames_processed": frames, "wall_s": round(wall, 3),
        "fps": round(frames / wall, 2) if wall > 0 and frames else 0.0,
        "timings_s": timings, "index_lines": lines, "config": config.to_dict(),
    }
    name = "run_summary.json" if num_shards == 1 else f"run_summary.shard{shard}-of-{num_shards}.json"
    atomic_write_text(out / name, json.dumps(summary, indent=1))
    return summary
