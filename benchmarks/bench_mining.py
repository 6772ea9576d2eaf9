#!/usr/bin/env python
"""Mining benchmark: tracking quality on synthetic videos with ground truth, and the time split.

Prints, for the default pipeline (HOG -> ByteTrack -> filters -> JPEG crops):
  * quality against ground truth: tracklet purity, IDF1, MOTA, HOTA (trackers.eval), ID switches;
  * the time split decode / detect / track / filter / write and the ratio
    (track + filter + write) / detect, whose target is <= 0.15;
  * the same split on the real clip vtest.avi when it is installed (apt-get install opencv-doc).
The same tracking is then re-run from the saved detections (`--detector file`), which isolates
the cost and quality of tracking + filtering from the detector.

    python benchmarks/bench_mining.py                     # 3 videos x 300 frames, ~5 min on 2 cores
    python benchmarks/bench_mining.py --videos 8 --workers 2 --vtest-seconds 0
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cion.mining.pipeline import MiningConfig, mine_videos  # noqa: E402
from cion.mining.quality import evaluate_synthetic  # noqa: E402

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def split_line(t: dict) -> str:
    """decode/detect/track/filter/write seconds and the overhead ratio against detection."""
    over = t["track"] + t["filter"] + t["write"]
    ratio = over / t["detect"] if t["detect"] > 0 else float("nan")
    return (f"decode {t['decode']:.2f}s | detect {t['detect']:.2f}s | track {t['track']:.2f}s | "
            f"filter {t['filter']:.2f}s | write {t['write']:.2f}s | (track+filter+write)/detect = {ratio:.3f}"
            f" (target <= 0.15)")


def quality_line(q: dict) -> str:
    """The pooled quality numbers on one line."""
    return (f"purity {q['purity']:.3f} | IDF1 {q['IDF1']:.3f} | MOTA {q['MOTA']:.3f} | HOTA {q['HOTA']:.3f} | "
            f"IDSW {q['IDSW']} | tracklets {q['tracklets']} | crops {q['crops']} | "
            f"people found {q['people_found']}/{q['people_in_gt']}")


def main() -> int:
    """Run the benchmark and print its numbers."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--videos", type=int, default=3, help="synthetic videos (default 3)")
    p.add_argument("--frames", type=int, default=300, help="frames per synthetic video (default 300)")
    p.add_argument("--people", type=int, default=5, help="people per synthetic video (default 5)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--synthetic", help="reuse a make_videos folder instead of rendering one")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--vtest-seconds", type=float, default=30.0, help="seconds of vtest.avi to mine (0 skips)")
    p.add_argument("--json", help="also write the numbers to this JSON file")
    a = p.parse_args()

    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if a.synthetic:
            world = Path(a.synthetic)
        else:
            from reidzoo.data.synthetic import make_videos
            world = tmp / "world"
            t0 = time.perf_counter()
            make_videos(world, n_videos=a.videos, people_per_video=a.people, frames=a.frames, seed=a.seed,
                        progress=False)
            print(f"rendered {a.videos} synthetic videos x {a.frames} frames in {time.perf_counter() - t0:.0f}s")
        hog_out = tmp / "hog"
        s = mine_videos([world / "videos"], hog_out, MiningConfig(), workers=a.workers, progress=False)
        q = evaluate_synthetic(hog_out, world)["pooled"]
        print(f"\n== synthetic, defaults (hog), {s['frames_processed']} frames at {s['fps']} fps")
        print("quality: " + quality_line(q))
        print("time:    " + split_line(s["timings_s"]))
        results["synthetic_hog"] = {"quality": q, "timings_s": s["timings_s"], "fps": s["fps"]}

        file_out = tmp / "file"
        s2 = mine_videos([world / "videos"], file_out, MiningConfig(detector="file", detections=str(hog_out / "videos")),
                         workers=a.workers, progress=False)
        q2 = evaluate_synthetic(file_out, world)["pooled"]
        t = s2["timings_s"]
        print(f"\n== synthetic, the same detections replayed (--detector file): tracking alone at {s2['fps']} fps")
        print("quality: " + quality_line(q2))
        print(f"time:    decode {t['decode']:.2f}s | read dets {t['detect']:.2f}s | track {t['track']:.2f}s | "
              f"filter {t['filter']:.2f}s | write {t['write']:.2f}s")
        results["synthetic_replay"] = {"quality": q2, "timings_s": t, "fps": s2["fps"]}

        if a.vtest_seconds > 0 and VTEST.exists():
            s3 = mine_videos([VTEST], tmp / "vtest", MiningConfig(end_s=a.vtest_seconds), progress=False)
            print(f"\n== vtest.avi (768x576), first {a.vtest_seconds:.0f}s: {s3['frames_processed']} frames at "
                  f"{s3['fps']} fps, {s3['tracklets']} tracklets, {s3['crops']} crops")
            print("time:    " + split_line(s3["timings_s"]))
            results["vtest"] = {k: s3[k] for k in ("timings_s", "fps", "tracklets", "crops", "frames_processed")}
        elif a.vtest_seconds > 0:
            print(f"\n(vtest.avi not installed at {VTEST}: apt-get install opencv-doc)")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
