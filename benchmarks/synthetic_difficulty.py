#!/usr/bin/env python
"""How hard is the synthetic re-ID world? mAP of three matchers on a synthetic Market-style benchmark.

1. colour histogram: the library's hand-crafted descriptor (`reidzoo.baselines`, banded HSV);
2. untrained ResNet-18 (``reidzoo.create_model("resnet18")``, seeded random weights);
3. the same ResNet-18 after a short `reidzoo.finetune` run on the train split (the library's
   BNNeck + ID + triplet baseline, P=8 identities x K=4 images, the last epoch is reported).

All three are scored by `reidzoo.evaluation.evaluate` (cosine, Market protocol); the networks see
the library's preprocessing (256x128). A good world is learnable (3 far above 1 and 2) and not
solved by colour (1 well below 3).

    python benchmarks/synthetic_difficulty.py                      # generates the default benchmark
    python benchmarks/synthetic_difficulty.py --root DIR --epochs 12 --json out.json
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import reidzoo
from reidzoo.baselines import colour_histograms
from reidzoo.data import Market1501
from reidzoo.data.synthetic import make_market_like
from reidzoo.evaluation import evaluate
from reidzoo.finetune import FinetuneConfig, evaluate_backbone, finetune


def colour_row(ds: Market1501) -> dict:
    """mAP / rank-1 of the colour-histogram descriptor."""
    q, g = ds.query, ds.gallery
    qf, gf = colour_histograms([p for p, _, _ in q]), colour_histograms([p for p, _, _ in g])
    pids_cams = (np.array([x[i] for x in split]) for i, split in ((1, q), (1, g), (2, q), (2, g)))
    return evaluate(qf, gf, *pids_cams, metric="cosine")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, help="existing Market-style folder (default: generate one in a temp dir)")
    ap.add_argument("--seed", type=int, default=0, help="world, initialisation and training seed (default 0)")
    ap.add_argument("--ids-train", type=int, default=100)
    ap.add_argument("--ids-test", type=int, default=100)
    ap.add_argument("--images-per-id", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=4, help="fine-tuning epochs (default 4)")
    ap.add_argument("--iters-per-epoch", type=int, default=25,
                    help="iterations of P=8 ids x K=4 images per epoch (default 25: 100 iterations in all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-finetune", action="store_true", help="only the two untrained matchers (quick look)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []

    def add(name: str, res: dict, seconds: float) -> None:
        rows.append((name, float(res["mAP"]), float(res["rank1"]), seconds))
        print("  %s: mAP %.3f rank-1 %.3f (%.0fs)" % rows[-1], flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        root = args.root
        if root is None:
            root = Path(tmp) / "market"
            t = time.perf_counter()
            make_market_like(root, args.ids_train, args.ids_test, 6, args.images_per_id, args.seed)
            print(f"generated {root} in {time.perf_counter() - t:.1f}s")
        ds = Market1501(root)
        print(f"train {len(ds.train)} images / {ds.num_ids(ds.train)} ids, query {len(ds.query)}, "
              f"gallery {len(ds.gallery)}")
        cfg = FinetuneConfig(model="resnet18", dataset="synthetic", root=str(root), epochs=args.epochs,
                             max_iters_per_epoch=args.iters_per_epoch, p=8, k=4, warmup_epochs=1,
                             eval_every=args.epochs, seed=args.seed, num_workers=0)
        t = time.perf_counter()
        add("colour histogram (reidzoo.baselines, HSV, 3 bands)", colour_row(ds), time.perf_counter() - t)
        torch.manual_seed(args.seed)  # the random initialisation is part of the result
        t = time.perf_counter()
        add("ResNet-18, untrained", evaluate_backbone(reidzoo.create_model("resnet18"), ds, cfg, progress=False),
            time.perf_counter() - t)
        if not args.no_finetune:
            t = time.perf_counter()
            res = finetune(cfg, Path(tmp) / "finetune")
            iters = args.epochs * args.iters_per_epoch
            add(f"ResNet-18, reidzoo.finetune ({iters} iterations of 32 images, last epoch)", res["history"][-1],
                time.perf_counter() - t)
    print("\n| matcher | mAP | rank-1 | seconds |\n|---|---|---|---|")
    for name, m, r1, s in rows:
        print(f"| {name} | {100 * m:.1f} | {100 * r1:.1f} | {s:.0f} |")
    if len(rows) == 3:
        best = rows[2][1]
        print(f"\nfine-tuned / colour-histogram mAP ratio: {best / max(rows[0][1], 1e-9):.2f}; "
              f"fine-tuned / untrained: {best / max(rows[1][1], 1e-9):.2f}")
    if args.json:
        args.json.write_text(json.dumps({"seed": args.seed, "ids_train": args.ids_train, "ids_test": args.ids_test,
                                         "images_per_id": args.images_per_id, "epochs": args.epochs,
                                         "iters_per_epoch": args.iters_per_epoch,
                                         "results": [dict(matcher=n, mAP=m, rank1=r, seconds=s) for n, m, r, s in rows]},
                                        indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
