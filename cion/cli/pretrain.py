"""CION pre-training: identity-guided self-distillation of a ReIDZoo backbone on a CION-AL set.

Examples:
Single CPU or GPU (no torchrun needed):
  cion pretrain --config configs/pretrain/cpu_smoke.yaml
A zoo model with the release recipe (batch size and local crops from its ZooSpec), 8 GPUs (nccl):
  torchrun --nproc_per_node 8 -m cion pretrain --model resnet50_ibn
Several CPU processes (gloo) on one machine:
  torchrun --nproc_per_node 2 -m cion pretrain --config configs/pretrain/cpu_smoke.yaml
Continue a stopped run exactly where its last checkpoint left off:
  cion pretrain --model resnet50_ibn --resume
Export the teacher backbone of a run as a hub folder (reidzoo.load reads it):
  cion pretrain --export runs/cpu_smoke/checkpoint.pth --out exports/ghostnet_1_0

Any config key can be overridden: `--set epochs=3 batch_size_per_gpu=64 output_dir=runs/x`, sections
with dots: `--set augment.local_crops=4 augment.solarize_p=[0,0.3,0]`. --model, then --config, then
--set: each layer overrides the one before (docs/configs.md).
The run folder (output_dir) gets checkpoint.pth (every epoch and every save_every_steps steps),
log.jsonl (one line per step), loss_lr.png, config.yaml. A folder holding a run is refused unless
--resume (continue it exactly) or --overwrite (start over); one run at a time writes to a folder.
A toy identity set for trying it out: `cion pretrain --make-toy-set datasets/toy_cional`;
a Market-1501-style folder (e.g. the synthetic world) becomes one with `--annotate-market ROOT`.
"""
from __future__ import annotations

import argparse
import logging


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `cion pretrain`."""
    p.add_argument("--model", metavar="NAME",
                   help="a zoo model's release recipe (its ZooSpec's batch size and local crops; `reidzoo zoo "
                        "list` names them)")
    p.add_argument("--config", help="YAML config, e.g. configs/pretrain/cpu_smoke.yaml (on top of --model)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override config keys")
    p.add_argument("--image-root", help="image root of the CION-AL set (overrides image_root)")
    p.add_argument("--annotations", help="CION-AL annotation JSON (overrides annotations)")
    p.add_argument("--output-dir", help="run folder (overrides output_dir)")
    p.add_argument("--allow-absolute-paths", action="store_true",
                   help="accept absolute file_paths in the annotations (by default every path must be relative "
                        "to the image root; sets allow_absolute_paths)")
    p.add_argument("--resume", action="store_true", help="continue from output_dir/checkpoint.pth")
    p.add_argument("--overwrite", action="store_true",
                   help="start over in an output_dir that holds a run (its checkpoint, log and plots are "
                        "deleted); with --export: replace an existing non-empty --out folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs still written)")
    g = p.add_argument_group("other actions (each runs instead of training, then exits)")
    g.add_argument("--export", metavar="CKPT", help="write the teacher backbone of CKPT as a hub folder to --out")
    g.add_argument("--out", help="with --export: the hub folder to write")
    g.add_argument("--name", help="with --export: zoo model name (default: the one the run trained)")
    g.add_argument("--make-toy-set", metavar="DIR", help="write a small synthetic CION-AL set to DIR")
    g.add_argument("--annotate-market", metavar="ROOT",
                   help="write ROOT/cional_annotations.json for the training split of a Market-1501-style "
                        "folder (e.g. the synthetic world); then use --image-root ROOT")


def run(a: argparse.Namespace) -> int:
    """Train (or export / write a toy set / annotate a Market folder)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if a.export:
        if not a.out:
            raise ValueError("--export needs --out DIR (the hub folder to write)")
        from cion.pretrain.export import export_teacher
        out = export_teacher(a.export, a.out, a.name, overwrite=a.overwrite)
        print(f"wrote {out} (load it with reidzoo.load({str(out)!r}))")
        return 0
    if a.make_toy_set:
        from cion.pretrain.toyset import make_toy_cional
        root = make_toy_cional(a.make_toy_set)
        print(f"wrote {root}/annotations.json and {root}/images/")
        return 0
    if a.annotate_market:
        from cion.pretrain.data import annotations_from_market
        out = annotations_from_market(a.annotate_market)
        print(f"wrote {out}; pass --image-root {out.parent} --annotations {out}")
        return 0
    from cion.pretrain.config import load_config
    from cion.pretrain.train import pretrain
    overrides = list(a.set)
    for key, val in (("image_root", a.image_root), ("annotations", a.annotations), ("output_dir", a.output_dir),
                     ("allow_absolute_paths", "true" if a.allow_absolute_paths else None)):
        if val:
            overrides.append(f"{key}={val}")
    cfg = load_config(a.config, overrides, model=a.model)
    summary = pretrain(cfg, resume=a.resume, overwrite=a.overwrite, progress=not a.no_progress)
    print(f"done: {summary['epochs']} epochs, {summary['iterations']} iterations; checkpoint {summary['checkpoint']}")
    return 0
