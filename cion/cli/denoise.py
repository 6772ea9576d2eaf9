"""Denoise mined tracklets into cross-video identities (CION's progressive identity correlation seeking).

Input is either the output folder of `cion mine` (tracklets.jsonl + JPEG crops; features are
extracted with --model and cached) or, for corpora whose features were extracted elsewhere,
--features FILE.npz holding arrays features (N x d float32), video (N str/int), tracklet (N int,
unique within a video), file_path (N str) and optionally frame (N int).

Three levels run per round, each under the same two criteria on cosine distances of L2-normalised
features: an identity's radius (largest member distance to its centroid) <= r, and identities whose
centroids are closer than d are one person.
  level 1  per tracklet: drop the farthest crop until the radius is <= r
  level 2  per video: give dropped crops to the tracklet they fit, merge tracklets closer than d
  level 3  across videos, sliding window over videos in name order: merge identities closer than d
Merges are complete-linkage (no A~B~C chains) and must keep the merged radius <= r_merge.
Thresholds you do not give are calibrated from the data; the tool prints what it chose and why.

Examples:
  # mining output, features from a zoo model (cached under OUT/cache), thresholds calibrated
  cion denoise mined/ --model convnext_tiny --out labels/
  # features-only mode with given thresholds
  cion denoise --features feats.npz --out labels/ --radius 0.2 --distance 0.45
  # two rounds: a second, better model (e.g. pre-trained on round 1's labels), tighter radius
  cion denoise mined/ --rounds 2 --model resnet18 --model runs/r1/hub --radius 0.25 0.2 --out labels/
  # many machines: every rank extracts a shard, rank 0 denoises
  torchrun --nproc-per-node 4 -m cion denoise mined/ --model convnext_tiny --device cuda --out labels/

Outputs in --out: annotations.json (CION-AL: [{"file_path", "id"}], ids contiguous from 0, sorted;
file_path relative to the mining folder), dropped.jsonl (every crop left out and why),
denoise_report.json (per level: images kept/dropped/reassigned, identities before/after, merges,
radius and nearest-centroid-distance statistics, calibration evidence), radii.png and
centroid_distances.png (histograms with the thresholds marked).
"""
from __future__ import annotations

import argparse

from reidzoo.cli.argtypes import device, number, positive_int

# cosine distances of unit vectors lie in [0, 2]; 0 would drop every crop that is not a duplicate
distance = number(float, above=0, maximum=2)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `cion denoise`."""
    p.add_argument("tracklets", nargs="?", help="mining output folder (tracklets.jsonl + crops)")
    p.add_argument("--features", metavar="FILE.npz", help="features-only mode: per-crop arrays (see above)")
    p.add_argument("--out", required=True, help="output folder for annotations.json, report and plots")
    p.add_argument("--model", action="append", default=[],
                   help="zoo name, hub folder or release .pth for crop features, or 'colourhist' (banded HSV "
                        "histograms, no weights needed); repeat once per round to re-extract with a better "
                        "model in later rounds")
    p.add_argument("--weights", help="weights for a zoo-name --model (hub folder, .safetensors or release .pth)")
    p.add_argument("--random-init", action="store_true",
                   help="use the zoo architecture with random weights (offline demos and tests; weak features)")
    p.add_argument("--device", type=device, default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--cache-dir", help="feature cache folder (default OUT/cache)")
    p.add_argument("--rounds", type=positive_int, default=1, help="progressive rounds (default 1)")
    p.add_argument("--radius", type=distance, nargs="+",
                   help="r per round, in (0, 2]: tracklet radius (default: calibrated)")
    p.add_argument("--distance", type=distance, nargs="+",
                   help="d per round, in (0, 2]: centroids closer than d are one person (default: calibrated)")
    p.add_argument("--merge-radius", type=distance, nargs="+",
                   help="r_merge per round, in (0, 2]: radius bound of merged identities (default: calibrated)")
    p.add_argument("--levels", default="1,2,3", help="levels to run, e.g. 1,2 (default 1,2,3)")
    p.add_argument("--window", type=positive_int, default=64, help="level-3 window in videos (default 64)")
    p.add_argument("--stride", type=positive_int, help="level-3 window step in videos (default window/2)")
    p.add_argument("--neighbours", type=positive_int, default=16,
                   help="level-3 FAISS neighbours per identity (default 16)")
    p.add_argument("--min-images", type=positive_int, default=2,
                   help="leave identities with fewer images out of annotations.json (default 2)")
    p.add_argument("--allow-absolute-paths", action="store_true",
                   help="--features mode: accept absolute file_path entries (by default they must be relative to "
                        "the image root pre-training will read)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing annotations.json in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _levels(text: str) -> tuple:
    """--levels '1,2,3' as a sorted tuple of level numbers."""
    try:
        levels = tuple(sorted({int(v) for v in text.split(",")}))
    except ValueError:
        levels = ()
    if not levels or not set(levels) <= {1, 2, 3}:
        raise ValueError(f"--levels must be a comma list of 1, 2, 3; got {text!r}")
    return levels


def run(a: argparse.Namespace) -> int:
    """Check the options, then denoise a mining folder or a features file."""
    if bool(a.tracklets) == bool(a.features):
        raise ValueError("give either a mining output folder or --features FILE.npz (exactly one)")
    if a.tracklets and not a.model:
        raise ValueError("a mining folder needs --model to extract crop features (e.g. --model convnext_tiny)")
    from reidzoo.baselines import COLOUR_HIST_NAME
    from reidzoo.loading import check_source
    for name in a.model:  # a model that cannot work fails before any feature is extracted
        if name != COLOUR_HIST_NAME:
            check_source(name, a.weights)
    from cion.denoise.run import denoise_feature_file, denoise_tracklet_folder, round_configs
    progress = not a.no_progress
    rounds = round_configs(a.rounds, a.radius, a.distance, a.merge_radius, window=a.window, stride=a.stride,
                           neighbours=a.neighbours, levels=_levels(a.levels))
    if a.features:
        denoise_feature_file(a.features, a.out, rounds, min_images=a.min_images, overwrite=a.overwrite,
                             progress=progress, allow_absolute_paths=a.allow_absolute_paths)
    else:
        denoise_tracklet_folder(a.tracklets, a.out, a.model, rounds, weights=a.weights,
                                random_init=a.random_init, cache_dir=a.cache_dir, batch_size=a.batch_size,
                                device=a.device, min_images=a.min_images, overwrite=a.overwrite,
                                progress=progress)
    return 0
