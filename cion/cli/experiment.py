"""Does CION pre-training help? Four initialisations of one backbone, compared on the synthetic world.

Design (per seed; everything is cached under --work, so a re-run resumes where it stopped):
  1. world      reidzoo.data.synthetic: videos of people 0..n-1 (pre-training data) and a
                Market-format benchmark of people n.. (fine-tuning/evaluation): no person is shared.
  2. mining     cion.mining on the videos (ground-truth boxes as detections, so the detector is not
                what is compared; ByteTrack, the purity filters and crop sampling run as usual).
  3. denoising  cion.denoise on the tracklets -> CION-AL annotations with cross-video identities.
                Features: body-part colour histograms (default; offline there is no re-ID model to
                correlate with) or a random-init copy of the backbone (--denoise-features random).
  4. variants   none      random init, no pre-training
                instance  each crop its own identity, K=1: plain DINO multi-crop self-distillation
                tracklet  each mined (video, tracklet) its own identity: single-video labels
                cion      the denoised cross-video identities
                The three pre-trained variants run cion.pretrain with one config (the budget's
                preset, cion/configs/experiment_<budget>.yaml) but the label file and K: the same
                steps x batch and the same crops, i.e. equal compute.
  5. evaluation every variant is exported as a hub folder, evaluated as it is (teacher backbone,
                no fine-tuning) and after one identical reidzoo.finetune run (its last epoch):
                mAP / Rank-1.
Output: WORK/results.json (every run + mean/std over seeds), WORK/results.md (the table with
compute and label quality), WORK/results.png (bar chart).

Examples:
  cion experiment --work runs/experiment --seeds 0 1 2
  cion experiment --work runs/exp_small --seeds 0 --budget small   # minutes
  cion experiment --work runs/exp_r18 --model resnet18 --threads 2
"""
from __future__ import annotations

import argparse

from cion.experiment import BUDGETS, DENOISE_FEATURES, VARIANTS
from reidzoo.cli.argtypes import non_negative_int, number


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `cion experiment` (see the description for the design)."""
    p.add_argument("--work", default="runs/experiment",
                   help="work dir: stage outputs, per-run result.json, results.{json,md,png} (default %(default)s)")
    p.add_argument("--seeds", type=non_negative_int, nargs="+", default=[0, 1, 2],
                   help="seeds (world, mining, denoising, training); use >= 3 for mean ± std (default 0 1 2)")
    p.add_argument("--budget", choices=sorted(BUDGETS), default="full",
                   help="full: the CPU learning regime, few-shot fine-tuning (docs/experiment.md); small: a minutes-long smoke "
                        "run whose numbers mean nothing (default %(default)s)")
    p.add_argument("--model", default="resnet18", help="zoo backbone to pre-train (default %(default)s)")
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS),
                   help="which initialisations to run (default: all four)")
    p.add_argument("--denoise-features", choices=DENOISE_FEATURES, default="colour",
                   help="features the denoiser correlates tracklets with (default %(default)s)")
    p.add_argument("--denoise-distance", type=number(float, above=0, maximum=2), default=None,
                   help="merge distance d of the denoiser instead of the calibrated one (cosine distance of "
                        "identity centroids); see docs/experiment.md for why 0.3 is worth a run")
    p.add_argument("--threads", type=non_negative_int, default=0,
                   help="torch threads; 0 = torch's default; set it to the cores this run may use")
    p.add_argument("--workers", type=non_negative_int, default=1, help="data loader workers (default %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(a: argparse.Namespace) -> int:
    """Run the experiment (cached stages are reused)."""
    from reidzoo.models.registry import get_spec
    get_spec(a.model)  # before the first of many stages
    from cion.experiment import ExperimentConfig, run_experiment
    cfg = ExperimentConfig(work=a.work, seeds=a.seeds, budget=a.budget, model=a.model, variants=a.variants,
                           denoise_features=a.denoise_features, denoise_distance=a.denoise_distance,
                           threads=a.threads, num_workers=a.workers, progress=not a.no_progress)
    run_experiment(cfg)
    return 0
