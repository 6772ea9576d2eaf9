"""The whole CION pipeline on a synthetic world, end to end, in ~15 minutes on 2 CPU cores.

Stages (each prints its progress and wall time; each output stays on disk under --work, and a
re-run skips the stages whose output exists):
  1. synthetic world: 60 surveillance-like videos of 200 people with ground truth + a
     Market-1501-format benchmark of 80 other people (so the benchmark measures transfer)
  2. mine person tracklets from the videos (the world's ground-truth boxes + ByteTrack; a real
     --video is mined with the HOG detector)
  3. denoise the tracklets into cross-video identities (CION's three levels) -> CION-AL annotations
  4. CION pre-training of resnet18 in the CPU regime that learns (docs/pretrain.md), export its teacher
  5. fine-tune the exported backbone on the benchmark's train split (last epoch reported)
  6. evaluate random / pre-trained / fine-tuned features on the test split, all under the same
     BatchNorm rule and input size (64x32)
  7. write WORK/report.md and WORK/results.json with the numbers, whether pre-training beat random
     init, and PNGs (tracklet mosaic, denoising histograms, loss + collapse diagnostics, CMC curve,
     ranked results)

Examples:
  cion quickstart                                       # = make demo
  cion quickstart --video /usr/share/doc/opencv-doc/examples/data/vtest.avi
  cion quickstart --work runs/qs_seed1 --seed 1
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from reidzoo.cli.argtypes import non_negative_int, positive_float, positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `cion quickstart`."""
    p.add_argument("--work", default="runs/quickstart", help="output folder (default ./runs/quickstart)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="world and training seed")
    p.add_argument("--model", help="zoo backbone to pre-train and fine-tune (default: the preset's, resnet18)")
    p.add_argument("--video", help="also mine this real video (e.g. vtest.avi) and show its tracklets")
    p.add_argument("--video-seconds", type=positive_float, default=20.0, help="how much of --video to mine (default 20 s)")
    p.add_argument("--preset", default="quickstart",
                   help="sizes of every stage: a packaged preset name (cion/configs/NAME.yaml) or a YAML file")
    p.add_argument("--threads", type=positive_int, default=2, help="torch CPU threads")
    p.add_argument("--fresh", action="store_true", help="delete --work first instead of resuming")


def run(a: argparse.Namespace) -> int:
    """Run (or resume) the pipeline and print where the report is."""
    if a.video and not Path(a.video).is_file():
        raise FileNotFoundError(f"video {a.video} does not exist")
    # everything the options name is checked before the first stage starts its minutes of work
    from cion.stages import load_preset
    from reidzoo.models.registry import get_spec
    model = a.model or load_preset(a.preset).get("model")
    if model:
        get_spec(model)
    from cion.quickstart import QuickstartConfig, run_quickstart
    work = Path(a.work)
    if a.fresh and work.exists():
        import shutil
        shutil.rmtree(work)
    cfg = QuickstartConfig(seed=a.seed, preset=a.preset, model=a.model, video=a.video,
                           video_seconds=a.video_seconds, threads=a.threads)
    t0 = time.time()
    report = run_quickstart(work, cfg)
    print(f"\nreport: {report}  ({time.time() - t0:.0f} s in all)")
    return 0
