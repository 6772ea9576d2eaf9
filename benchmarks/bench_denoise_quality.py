#!/usr/bin/env python
"""Quality of cion.denoise on synthetic videos with global ground truth.

Pipeline: reidzoo.data.synthetic.make_videos (people reappear across videos) -> cion.mining
(detector + ByteTrack -> tracklets.jsonl + crops) -> crop features from a zoo model -> levels 1-3.
Every crop gets its ground-truth global identity from gt/<video>/gt.txt (box IoU >= 0.3 in the
same frame) and identities.json; crops that match nobody are junk. The table gives pairwise and
BCubed precision / recall / F1 of the identity labels for the raw single-video tracklets and after
each level (dropped crops count as singletons, so dropping never buys recall).

    python benchmarks/bench_denoise_quality.py                         # HOG detector, random-init resnet18
    python benchmarks/bench_denoise_quality.py --detector gt           # ground-truth boxes as detections
    python benchmarks/bench_denoise_quality.py --model path/to/hub_folder --work /tmp/dq
    python benchmarks/bench_denoise_quality.py --source features   # feature-level world, no images

`--source features` skips images: cion.denoise.synthetic_features draws feature vectors with a known
identity structure (junk crops, switched track tails, fragments, look-alikes, people reappearing in
nearby videos), which shows what each level does when the features do separate people.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", default="videos", choices=["videos", "features"],
                   help="videos: render, mine, extract (default); features: synthetic feature vectors")
    p.add_argument("--crops", type=int, default=20000, help="--source features: number of crops")
    p.add_argument("--work", help="working folder (kept; default: a temporary one)")
    p.add_argument("--videos", type=int, default=8)
    p.add_argument("--people", type=int, nargs=2, default=[3, 5], metavar=("MIN", "MAX"))
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--detector", default="hog", choices=["hog", "gt"],
                   help="hog: the mining default; gt: ground-truth boxes through the file detector")
    p.add_argument("--max-crops", type=int, default=16, help="crops the miner keeps per tracklet (default 16)")
    p.add_argument("--model", default="resnet18",
                   help="zoo name (random init unless --pretrained), hub folder, release checkpoint, or "
                        "'colourhist' for the hand-crafted HSV histogram baseline (reidzoo.baselines)")
    p.add_argument("--pretrained", action="store_true", help="load zoo-name weights from the Hub cache")
    p.add_argument("--radius", type=float)
    p.add_argument("--distance", type=float)
    p.add_argument("--merge-radius", type=float)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", help="also write the table to this JSON file")
    a = p.parse_args()

    import torch
    torch.set_num_threads(a.threads)
    from cion.denoise import build_corpus
    from cion.denoise.features import extract_crop_features
    from cion.denoise.groundtruth import crop_identities
    from cion.denoise.inputs import read_tracklets
    from cion.mining.pipeline import MiningConfig, mine_videos
    from reidzoo.baselines import COLOUR_HIST_NAME
    from reidzoo.data.synthetic import gt_detections, make_videos

    if a.source == "features":
        from cion.denoise.synthetic_features import make_feature_corpus
        s = make_feature_corpus(n_crops=a.crops, n_videos=max(2, a.crops // 500), seed=a.seed)
        corpus = build_corpus(s["features"], s["video"], s["tracklet"], s["file_path"], frame=s["frame"],
                              extra={"identity": s["identity"]})
        print(f"feature-level synthetic world: {a.crops} crops, d={s['features'].shape[1]}")
        return report(a, corpus)
    tmp = None
    if a.work is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench_denoise_quality_")
        a.work = tmp.name
    work = Path(a.work)
    world = work / f"world_v{a.videos}_p{a.people[0]}-{a.people[1]}_f{a.frames}_s{a.seed}"
    t = time.perf_counter()
    if not (world / "identities.json").exists():
        make_videos(world, n_videos=a.videos, people_per_video=tuple(a.people), frames=a.frames, seed=a.seed,
                    overwrite=True, progress=False)
    print(f"synthetic world: {world} ({time.perf_counter() - t:.0f}s)", flush=True)
    mined = work / f"mined_{a.detector}_c{a.max_crops}_{world.name}"
    t = time.perf_counter()
    if not (mined / "tracklets.jsonl").exists():
        from cion.mining.tracklets import FilterConfig
        filters = FilterConfig(max_crops=a.max_crops)
        cfg = MiningConfig(filters=filters) if a.detector == "hog" else \
            MiningConfig(detector="file", detections=str(gt_detections(world, work / f"dets_{world.name}")),
                         filters=filters)
        mine_videos([world / "videos"], mined, cfg, progress=False)
    print(f"mined: {mined} ({time.perf_counter() - t:.0f}s)", flush=True)
    tr = read_tracklets(mined)
    gt = crop_identities(world, tr.video, tr.frame, tr.bbox)
    model = a.model
    if model != COLOUR_HIST_NAME and not a.pretrained and not Path(model).exists():
        import reidzoo
        from reidzoo.cards import Provenance
        folder = work / f"random-{model}"
        if not (folder / "config.json").exists():
            torch.manual_seed(0)
            reidzoo.save_hub_folder(reidzoo.create_model(model), model, folder, overwrite=True,
                                    provenance=Provenance.random_init(0))
        model = str(folder)
    t = time.perf_counter()
    feats = extract_crop_features(mined, tr.file_path, model, work / "cache", progress=False)
    random_init = not (a.pretrained or Path(a.model).exists() or model == COLOUR_HIST_NAME)
    print(f"features: {feats.shape} from {a.model}{' (random init)' if random_init else ''} "
          f"({time.perf_counter() - t:.0f}s)", flush=True)
    corpus = build_corpus(feats, tr.video, tr.tracklet, tr.file_path, frame=tr.frame, extra={"identity": gt})
    report(a, corpus)
    if tmp is not None:
        tmp.cleanup()


def report(a, corpus) -> None:
    """Denoise `corpus` and print the quality table against corpus.extra['identity']."""
    from cion.denoise import RoundConfig, cluster_scores, run_round

    res = run_round(corpus, RoundConfig(radius=a.radius, distance=a.distance, merge_radius=a.merge_radius),
                    log=lambda m: print("  " + m), progress=False)
    gt = corpus.extra["identity"]
    people = len(np.unique(gt[gt >= 0]))
    print(f"\n{corpus.n} crops, {corpus.n_tracklets} tracklets, {corpus.n_videos} videos, {people} people in the "
          f"crops, {int((gt < 0).sum())} junk crops (no ground-truth match)")
    print(f"thresholds: {res.thresholds}")
    for lv in res.report["levels"]:
        if "blocked_merges" in lv:
            print(f"{lv['level']}: {lv['merges']} merges, refused: {lv['blocked_merges']}")
    head = f"{'labels':8s} {'ids':>5s} {'kept':>6s} {'pair P':>7s} {'pair R':>7s} {'pair F1':>7s} " \
           f"{'B3 P':>6s} {'B3 R':>6s} {'B3 F1':>6s}"
    print(head + "\n" + "-" * len(head))
    rows = {}
    for name, lab in res.labels.items():
        q = cluster_scores(lab, gt)
        rows[name] = {"identities": int(len(np.unique(lab[lab >= 0]))), "kept": float((lab >= 0).mean()), **q}
        r = rows[name]
        print(f"{name:8s} {r['identities']:5d} {r['kept']:6.3f} {r['pair_precision']:7.3f} {r['pair_recall']:7.3f} "
              f"{r['pair_f1']:7.3f} {r['bcubed_precision']:6.3f} {r['bcubed_recall']:6.3f} {r['bcubed_f1']:6.3f}")
    if a.json:
        Path(a.json).write_text(json.dumps({"rows": rows, "thresholds": res.thresholds, "crops": corpus.n,
                                            "people": people, "args": vars(a)}, indent=2))


if __name__ == "__main__":
    main()
