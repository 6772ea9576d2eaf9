#!/usr/bin/env python
"""Difficulty of a synthetic benchmark preset: random-init frozen mAP and few-shot fine-tuned mAP over seeds.

For each seed: generate the benchmark (`make_market_like(..., difficulty=PRESET)`), score a
random-init backbone on frozen features under the BN rule (docs/pretrain.md), then fine-tune
that same random init with the few-shot protocol (`train_fraction`, fixed epochs) and report
the last epoch's mAP. Prints mean +- std over seeds and writes every number to --json.

    python benchmarks/hard_benchmark.py --difficulty hard --seeds 0 1 2 --json runs/hard.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch


def main(argv=None) -> int:
    """Run the measurement and print the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("runs/hard_benchmark"), help="benchmarks and runs go here")
    ap.add_argument("--difficulty", default="hard", help="generator preset (default hard)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--model", default="ghostnet_1_0")
    ap.add_argument("--ids-train", type=int, default=100)
    ap.add_argument("--ids-test", type=int, default=50)
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--images-per-id", type=int, default=8)
    ap.add_argument("--train-fraction", type=float, default=0.25, help="few-shot share of the train identities")
    ap.add_argument("--epochs", type=int, default=16, help="fine-tuning epochs (the fixed budget)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, help="also write the results here")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    import reidzoo
    from cion.pretrain.probe import frozen_map, load_probe
    from reidzoo.data.synthetic import make_market_like
    from reidzoo.finetune import FinetuneConfig, finetune

    rows = []
    for seed in a.seeds:
        root = a.work / f"{a.difficulty}_s{seed}" / "market"
        if not (root / "meta.json").exists():
            make_market_like(root, a.ids_train, a.ids_test, a.cameras, a.images_per_id, seed=seed,
                             identity_offset=10_000, difficulty=a.difficulty, overwrite=True, progress=False)
        torch.manual_seed(seed)  # the random init that the fine-tune below starts from, too
        frozen = frozen_map(reidzoo.load(a.model, pretrained=False), load_probe(root, seed=seed))
        cfg = FinetuneConfig(model=a.model, dataset="synthetic", root=str(root), epochs=a.epochs, p=8, k=4,
                             warmup_epochs=1, eval_every=a.epochs, num_workers=1, seed=seed, batch_size_eval=64,
                             train_fraction=a.train_fraction)
        t = time.perf_counter()
        last = finetune(cfg, root.parent / "finetune", overwrite=True, progress=False)["history"][-1]
        rows.append({"seed": seed, "frozen_mAP": frozen["mAP"], "finetuned_mAP": last["mAP"],
                     "finetuned_rank1": last["rank1"], "finetune_s": time.perf_counter() - t,
                     "train_acc": last["acc"], "id_loss": last["id"]})
        print(json.dumps(rows[-1]), flush=True)
    for key in ("frozen_mAP", "finetuned_mAP"):
        v = 100 * np.array([r[key] for r in rows])
        print(f"{key}: {v.mean():.1f} +- {v.std(ddof=1) if len(v) > 1 else 0.0:.1f} over seeds {a.seeds}")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(a).items()}, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
