#!/usr/bin/env python
"""Evaluate re-ID features: a zoo model on Market-1501 / MSMT17, or saved features (.npz).

Examples:
  # a zoo model (name or hub folder) on Market-1501 under ./datasets (or $REIDZOO_DATA)
  python tools/evaluate.py --model convnext_tiny --dataset market1501 --out runs/eval_convnext
  python tools/evaluate.py --model ./hub/my_model --weights ckpt.pth --dataset msmt17 --root /data --rerank

  # saved features: arrays qf (Q x d), gf (G x d), q_pids, g_pids, q_camids, g_camids
  python tools/evaluate.py --features feats.npz --out runs/eval_feats --metric euclidean

Protocol: gallery images of the query's person taken by the query's camera are ignored; queries
without a valid match are skipped and counted. --out writes results.json (mAP, rank1/5/10, mINP
as fractions, CMC, counts), cmc.png and, with images, ranked.png (top-10 per query, green/red).
"""
from __future__ import annotations

import argparse
import gc
import importlib.util
import sys


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", help="zoo model name (see reidzoo.model_names()) or a hub folder")
    src.add_argument("--features", metavar="FILE.npz", help="evaluate saved features instead of a model")
    p.add_argument("--weights", help="checkpoint for --model (default: the model's released weights)")
    p.add_argument("--dataset", default="market1501",
                   help="market1501, msmt17, or a folder of your own (see docs/evaluation.md)")
    p.add_argument("--root", help="data root holding the dataset folder (default: $REIDZOO_DATA or ./datasets)")
    p.add_argument("--out", help="output folder for results.json and the PNGs")
    p.add_argument("--metric", choices=("cosine", "euclidean"), default="cosine",
                   help="cosine on L2-normalised features (default) or Euclidean distance")
    p.add_argument("--rerank", action="store_true", help="k-reciprocal re-ranking (k1=20, k2=6, lambda=0.3)")
    p.add_argument("--max-rank", type=int, default=50, help="CMC up to this rank (default 50)")
    p.add_argument("--batch-size", type=int, default=64, help="feature extraction batch size")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cpu)")
    p.add_argument("--save-features", action="store_true", help="also write OUT/features.npz (with --model)")
    return p.parse_args(argv)


def _evaluation_only_import() -> None:
    # --features needs no model code: registering the reidzoo package without running its
    # __init__ (timm, the model registry) saves seconds of start-up on every evaluation.
    if "reidzoo" not in sys.modules:
        spec = importlib.util.find_spec("reidzoo")
        if spec is not None and spec.submodule_search_locations:
            sys.modules["reidzoo"] = importlib.util.module_from_spec(spec)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.features:
        _evaluation_only_import()
    from reidzoo.evaluation.report import run_features, run_model, summary_table
    try:
        if args.features:
            res = run_features(args.features, args.out, metric=args.metric, rerank=args.rerank,
                               max_rank=args.max_rank)
            title = f"{args.features} ({args.metric}{', re-ranked' if args.rerank else ''})"
        else:
            res = run_model(args.model, args.dataset, root=args.root, weights=args.weights, out_dir=args.out,
                            metric=args.metric, rerank=args.rerank, max_rank=args.max_rank,
                            batch_size=args.batch_size, device=args.device, save_features=args.save_features)
            title = f"{args.model} on {args.dataset} ({args.metric}{', re-ranked' if args.rerank else ''})"
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        # dataset layout, feature file, model name / weights / hub errors: all say what to do
        print(f"error: {e.args[0] if isinstance(e, KeyError) and e.args else e}", file=sys.stderr)
        return 2
    print(summary_table(res, title))
    if args.out:
        print(f"wrote {args.out}/results.json")
    return 0


if __name__ == "__main__":
    code = main()
    # Interpreter shutdown garbage-collects every object torch created, about 0.6 s on this
    # torch build (longer than a Market-1501 evaluation). Nothing needs that collection: the
    # results are written and closed, so exempt the live objects from it.
    gc.freeze()
    sys.exit(code)
