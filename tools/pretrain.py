#!/usr/bin/env python
"""CION pre-training: identity-guided self-distillation of a ReIDZoo backbone on a CION-AL set.

Single CPU or GPU (no torchrun needed):
    python tools/pretrain.py --config configs/pretrain/cpu_smoke.yaml
Several GPUs (nccl) or CPU processes (gloo) on one machine:
    torchrun --nproc_per_node 8 tools/pretrain.py --config configs/pretrain/resnet50_ibn.yaml
Continue a stopped run exactly where its last checkpoint left off:
    python tools/pretrain.py --config configs/pretrain/resnet50_ibn.yaml --resume

Any config key can be overridden: `--set epochs=3 batch_size_per_gpu=64 output_dir=runs/x`.
The run folder (output_dir) gets checkpoint.pth (every epoch and every save_every_steps steps),
log.jsonl (one line per step), loss_lr.png, config.yaml; export the teacher backbone with
tools/export_pretrained.py.
A toy identity set for trying it out: `python tools/pretrain.py --make-toy-set datasets/toy_cional`;
a Market-1501-style folder (e.g. the synthetic world) becomes one with `--annotate-market ROOT`.
"""
from __future__ import annotations

import argparse
import logging
import sys


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", help="YAML config (configs/pretrain/<model>.yaml or cpu_smoke.yaml)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override config keys")
    ap.add_argument("--image-root", help="image root of the CION-AL set (overrides image_root)")
    ap.add_argument("--annotations", help="CION-AL annotation JSON (overrides annotations)")
    ap.add_argument("--output-dir", help="run folder (overrides output_dir)")
    ap.add_argument("--resume", action="store_true", help="continue from output_dir/checkpoint.pth")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar (logs still written)")
    ap.add_argument("--make-toy-set", metavar="DIR", help="write a small synthetic CION-AL set to DIR and exit")
    ap.add_argument("--annotate-market", metavar="ROOT",
                    help="write ROOT/cional_annotations.json for the training split of a Market-1501-style "
                         "folder (e.g. the synthetic world) and exit; then use image_root=ROOT")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    if args.make_toy_set:
        from cion.pretrain.toyset import make_toy_cional
        root = make_toy_cional(args.make_toy_set)
        print(f"wrote {root}/annotations.json and {root}/images/")
        return 0
    if args.annotate_market:
        from cion.pretrain.data import annotations_from_market
        out = annotations_from_market(args.annotate_market)
        print(f"wrote {out}; pass --image-root {out.parent} --annotations {out}")
        return 0
    from cion.pretrain.config import load_config
    from cion.pretrain.train import TrainingDiverged, pretrain

    overrides = list(args.set)
    for key, val in (("image_root", args.image_root), ("annotations", args.annotations),
                     ("output_dir", args.output_dir)):
        if val:
            overrides.append(f"{key}={val}")
    try:
        cfg = load_config(args.config, overrides)
        summary = pretrain(cfg, resume=args.resume, progress=not args.no_progress)
    except TrainingDiverged as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"done: {summary['epochs']} epochs, {summary['iterations']} iterations; checkpoint {summary['checkpoint']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
