"""Mine person tracklets from videos: detect people, track them, filter, save crops + tracklets.jsonl.

Examples:
  # one clip with the default HOG detector (no weights needed)
  cion mine /usr/share/doc/opencv-doc/examples/data/vtest.avi --out mined/

  # a folder of videos on 8 processes, every 2nd frame, people >= 96 px tall
  cion mine videos/ --out mined/ --workers 8 --stride 2 --min-height 96

  # precomputed MOTChallenge detections (det.txt per video, e.g. MOT17/train/<seq>/det/det.txt)
  cion mine videos/ --out mined/ --detector file --detections dets/

  # a cluster job array: task i of n mines its share; re-running skips finished videos
  cion mine videos/ --out mined/ --shard $SLURM_ARRAY_TASK_ID --num-shards 16

Output (OUT/): tracklets.jsonl (one line per crop: video, tracklet, frame, bbox [x,y,w,h], score,
file_path relative to OUT), videos/<video>/{crops/,tracklets.jsonl,tracks.txt,det.txt,summary.json},
run_summary.json. Exit status: 0 when every video was mined or skipped, 1 when any failed,
2 when the options cannot work (e.g. detector weights missing).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from cion.mining.detectors import DETECTOR_NAMES, TORCHVISION_MODELS
from cion.mining.pipeline import MiningConfig
from cion.mining.tracking import TrackerConfig
from cion.mining.tracklets import FilterConfig
from reidzoo.cli.argtypes import device, fraction, non_negative_int, number, positive_float, positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `cion mine` (every one maps to a MiningConfig field)."""
    fd, td = FilterConfig(), TrackerConfig()
    p.add_argument("inputs", nargs="*", help="video files and/or folders (searched recursively for video files)")
    p.add_argument("--out", required=True, help="output folder (created; finished videos in it are skipped)")
    g = p.add_argument_group("detection")
    g.add_argument("--detector", default="hog", choices=DETECTOR_NAMES,
                   help="hog: OpenCV's HOG people detector, offline (default); file: MOTChallenge det.txt; "
                        "torchvision: COCO Faster R-CNN/RetinaNet; ultralytics: YOLO (optional package)")
    g.add_argument("--detections", help="file detector: a det.txt (one video) or a folder with "
                                        "<video>/det/det.txt, <video>/det.txt or <video>.txt")
    g.add_argument("--detector-weights", help="torchvision/ultralytics: local weights file (nothing is downloaded)")
    g.add_argument("--trust-detector-weights", action="store_true",
                   help="ultralytics: load a .pt file although that unpickles it fully (it can run code): only "
                        "for files from a source you trust")
    g.add_argument("--detector-model", choices=sorted(TORCHVISION_MODELS),
                   help="torchvision architecture (default fasterrcnn_resnet50_fpn_v2)")
    g.add_argument("--detect-scale", type=positive_float, default=1.0,
                   help="resize frames by this factor for detection only; crops stay full resolution "
                        "(<1 is faster; HOG needs >1, e.g. 2, to find people under ~100 px)")
    g.add_argument("--device", type=device, default="cpu", help="torch device for torchvision/ultralytics (cpu, cuda, cuda:1)")
    g = p.add_argument_group("frames")
    g.add_argument("--stride", type=positive_int, default=1, help="process every N-th frame (default 1)")
    g.add_argument("--start", type=number(float, minimum=0), help="start time in seconds")
    g.add_argument("--end", type=number(float, minimum=0), help="end time in seconds (exclusive)")
    g = p.add_argument_group("tracklet filters")
    g.add_argument("--min-height", type=non_negative_int, default=fd.min_height, help=f"min box height in px ({fd.min_height})")
    g.add_argument("--aspect", type=positive_float, nargs=2, default=(fd.min_aspect, fd.max_aspect), metavar=("MIN", "MAX"),
                   help=f"width/height band ({fd.min_aspect} {fd.max_aspect})")
    g.add_argument("--border", type=non_negative_int, default=fd.border_margin,
                   help=f"drop boxes closer than this to the frame edge, i.e. cut by it ({fd.border_margin} px)")
    g.add_argument("--min-score", type=fraction, default=fd.min_score, help=f"min detector confidence ({fd.min_score})")
    g.add_argument("--max-overlap", type=fraction, default=fd.max_overlap,
                   help=f"drop boxes covered more than this by another person and cut the tracklet there "
                        f"({fd.max_overlap}; 1 disables)")
    g.add_argument("--max-appearance-change", type=fraction, default=fd.max_appearance_change,
                   help=f"cut a tracklet where its colours (HSV histogram, Bhattacharyya distance to its running "
                        f"mean) change more than this ({fd.max_appearance_change}; 1 disables)")
    g.add_argument("--min-sharpness", type=number(float, minimum=0), default=fd.min_sharpness,
                   help=f"blur filter: min variance of the Laplacian at 128 px height ({fd.min_sharpness}; 0 disables)")
    g.add_argument("--min-length", type=positive_int, default=fd.min_length,
                   help=f"min accepted boxes per tracklet ({fd.min_length})")
    g.add_argument("--max-crops", type=positive_int, default=fd.max_crops,
                   help=f"crops saved per tracklet, evenly spread over time ({fd.max_crops})")
    g.add_argument("--crop-margin", type=number(float, minimum=0), default=fd.crop_margin,
                   help=f"context added around each box, fraction of its size ({fd.crop_margin})")
    g = p.add_argument_group("tracking (ByteTrack from the trackers package)")
    g.add_argument("--track-thresh", type=fraction, default=td.track_activation_threshold,
                   help=f"min confidence to start a track ({td.track_activation_threshold})")
    g.add_argument("--match-iou", type=fraction, default=td.minimum_iou_threshold,
                   help=f"min IoU to continue a track ({td.minimum_iou_threshold})")
    g.add_argument("--lost-buffer", type=non_negative_int, default=td.lost_track_buffer,
                   help=f"frames (at 30 fps) a lost track may be re-found ({td.lost_track_buffer})")
    g = p.add_argument_group("scale")
    g.add_argument("--workers", type=positive_int, default=1, help="parallel processes, one video each (default 1)")
    g.add_argument("--shard", type=non_negative_int, default=0, help="this job's share, 0-based (with --num-shards)")
    g.add_argument("--num-shards", type=positive_int, default=1, help="split the sorted video list into this many shares")
    g.add_argument("--overwrite", action="store_true", help="redo videos that are already mined")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--mosaic", metavar="PNG", help="also draw the longest tracklets of OUT into this PNG")
    p.add_argument("--index-only", action="store_true",
                   help="mine nothing: rebuild OUT/tracklets.jsonl from the finished videos (e.g. after all "
                        "shards of a job array are done)")


def config_from_args(a: argparse.Namespace) -> MiningConfig:
    """MiningConfig from parsed arguments."""
    return MiningConfig(
        detector=a.detector, detector_scale=a.detect_scale, detector_weights=a.detector_weights,
        detector_model=a.detector_model, detections=a.detections, device=a.device,
        trust_detector_weights=a.trust_detector_weights,
        stride=a.stride, start_s=a.start, end_s=a.end,
        tracker=TrackerConfig(track_activation_threshold=a.track_thresh, minimum_iou_threshold=a.match_iou,
                              lost_track_buffer=a.lost_buffer),
        filters=FilterConfig(min_height=a.min_height, min_aspect=a.aspect[0], max_aspect=a.aspect[1],
                             border_margin=a.border, min_score=a.min_score, max_overlap=a.max_overlap,
                             max_appearance_change=a.max_appearance_change,
                             min_sharpness=a.min_sharpness, min_length=a.min_length, max_crops=a.max_crops,
                             crop_margin=a.crop_margin))


def run(a: argparse.Namespace) -> int:
    """Mine (or rebuild the index); exit status 1 when any video failed."""
    from cion.mining.pipeline import mine_videos, rebuild_index
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    if a.shard >= a.num_shards:
        raise ValueError(f"--shard {a.shard} must be below --num-shards {a.num_shards} (shards count from 0)")
    if a.aspect[0] > a.aspect[1]:
        raise ValueError(f"--aspect MIN MAX: {a.aspect[0]} is above {a.aspect[1]}")
    if a.start is not None and a.end is not None and a.end <= a.start:
        raise ValueError(f"--end ({a.end}) must be after --start ({a.start})")
    if a.index_only:
        if not Path(a.out).is_dir():
            raise ValueError(f"{a.out} is not a folder of mined videos")
        print(f"{rebuild_index(a.out)} lines in {Path(a.out) / 'tracklets.jsonl'}")
        return 0
    if not a.inputs:
        raise ValueError("give at least one video file or folder (or --index-only)")

    def report(r: dict) -> None:
        if r["status"] == "failed":
            print(f"FAILED {r['path']}: {r['reason']}", file=sys.stderr)
        elif r["status"] == "ok" and r.get("warning"):
            print(f"warning {r['path']}: {r['warning']}", file=sys.stderr)

    s = mine_videos(a.inputs, a.out, config_from_args(a), workers=a.workers, shard=a.shard,
                    num_shards=a.num_shards, overwrite=a.overwrite, progress=not a.quiet, on_result=report)
    t = s["timings_s"]
    print(f"{s['mined']} mined, {s['skipped']} skipped, {len(s['failed'])} failed of {s['videos_in_shard']} "
          f"video(s); {s['tracklets']} tracklets, {s['crops']} crops, {s['frames_processed']} frames at "
          f"{s['fps']} fps (decode {t['decode']:.1f}s, detect {t['detect']:.1f}s, track {t['track']:.1f}s, "
          f"filter {t['filter']:.1f}s, write {t['write']:.1f}s); {s['index_lines']} lines in "
          f"{Path(a.out) / 'tracklets.jsonl'}")
    for f in s["failed"]:
        print(f"  failed: {f['path']}: {f['reason']}", file=sys.stderr)
    if a.mosaic and s["index_lines"]:
        from cion.mining.mosaic import tracklet_mosaic
        print(f"mosaic: {tracklet_mosaic(a.out, a.mosaic)}")
    return 1 if s["failed"] else 0
