#!/usr/bin/env python
"""Cluster Contrast on the synthetic world: USL on new people, UDA to other cameras; mean +- std over seeds.

For each seed s, three Market-format benchmarks (`make_market_like`, 50 train / 30 test people,
4 cameras, 16 images per person, as Market-1501's ~17 per train identity):

  source  world 100+s, people 0..               labelled; a random-init backbone is fine-tuned on it
  usl     world 100+s (same cameras), people from identity_offset 1000     train split used without labels
  uda     world 200+s (other cameras), colour casts and brightness errors x1.5 (`camera_shift`),
          people from identity_offset 2000                                   train split used without labels

1. `reidzoo.finetune` on source (random init seeded s, 30 epochs): the starting model of both runs
   below. For USL it stands in for the pre-training the paper starts from (it never saw the usl
   people); for UDA it is the source-fine-tuned model.
2. DBSCAN's eps: the value of a grid whose pseudo labels best match the true people (ARI, outliers
   as singletons) on the source benchmark's test split, labelled people that neither run trains on.
3. USL: `cluster_contrast` on usl's train split; mAP on usl's test split (held-out people) at the
   start (epoch 0: the source model with GeM pooling) and after the last epoch.
4. UDA: the same on uda. Direct transfer = the source model on uda's test split, both as trained
   (average pooling) and with GeM (the UDA run's epoch 0); the better of the two is the baseline.

Scaled down from the release (docs/cluster_contrast.md): ResNet-18 at 64x32, batches of 8 x 4,
16 epochs of 20 steps, Adam lr 1e-4, no BN neck.

    python benchmarks/cluster_contrast_synthetic.py --seeds 0 1 --json runs/cc_synth.json

Finished stages are kept under --work and skipped on a re-run (delete the folder to start over).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import torch


EPS_GRID = [0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6]


def worlds(work: Path, seed: int, a: argparse.Namespace) -> Dict[str, Path]:
    """The source, usl and uda benchmarks of a seed (generated once)."""
    from reidzoo.data.synthetic import make_market_like
    from reidzoo.data.synthetic.difficulty import Difficulty
    spec = {"source": (100 + seed, 0, None), "usl": (100 + seed, 1000, None),
            f"uda_shift{a.uda_camera_shift}": (200 + seed, 2000, Difficulty(camera_shift=a.uda_camera_shift))}
    out = {}
    for name, (world, offset, difficulty) in spec.items():
        root = work / f"s{seed}" / "data" / name
        if not (root / "meta.json").exists():
            make_market_like(root, a.ids_train, a.ids_test, a.cameras, a.images_per_id, seed=world,
                             identity_offset=offset, difficulty=difficulty, overwrite=True, progress=False)
        out[name] = root
    return out


def source_model(root: Path, run: Path, seed: int, a: argparse.Namespace) -> Dict[str, Any]:
    """Fine-tune a random-init backbone on the labelled source benchmark; its hub folder is run/hub."""
    from reidzoo.finetune import FinetuneConfig, export_finetuned, finetune
    done = run / "result.json"
    if done.exists():
        return json.loads(done.read_text())
    cfg = FinetuneConfig(model=a.model, dataset="synthetic", root=str(root), input_size=tuple(a.size), pad=a.pad,
                         epochs=a.source_epochs, p=16, k=4, warmup_epochs=1, eval_every=a.source_epochs,
                         num_workers=0, batch_size_eval=100, seed=seed)
    t = time.perf_counter()
    res = finetune(cfg, run, overwrite=True, progress=False)
    export_finetuned(run / "last.pth", run / "hub", overwrite=True)
    out = {"source_mAP": res["last"]["mAP"], "seconds": time.perf_counter() - t}
    done.write_text(json.dumps(out))
    return out


def as_trained_map(hub: Path, root: Path, a: argparse.Namespace) -> float:
    """mAP of the source model, pooling as trained, on a benchmark's test split."""
    import reidzoo
    from reidzoo.finetune import FinetuneConfig, evaluate_backbone
    from reidzoo.loading import set_input_size
    model = set_input_size(reidzoo.load(hub), a.size)
    cfg = FinetuneConfig(batch_size_eval=100, num_workers=0)
    return evaluate_backbone(model, reidzoo.data.Market1501(root), cfg, progress=False)["mAP"]


def choose_eps(hub: Path, root: Path, grid: List[float], a: argparse.Namespace) -> Dict[str, Any]:
    """The DBSCAN eps whose pseudo labels best match the true people (adjusted Rand index, each outlier a
    person of its own) on the source benchmark's test split: labelled people that no model trained on and
    that are not the targets."""
    import reidzoo
    from reidzoo.features import extract_features
    from reidzoo.finetune.cluster_contrast import ClusterContrastConfig, build_model
    from reidzoo.finetune.pseudo_labels import label_stats, pseudo_labels
    ds = reidzoo.data.Market1501(root)
    items = [it for it in ds.query + ds.gallery if it[1] > 0]          # people, not background distractors
    model, _ = build_model(ClusterContrastConfig(model=a.model, init=str(hub), input_size=tuple(a.size),
                                                 self_norm=False))
    feats = extract_features(model, [p for p, _, _ in items], batch_size=100, normalize=True, num_workers=0,
                             progress=False)
    ids = np.array([pid for _, pid, _ in items])
    scores = {eps: label_stats(pseudo_labels(feats, eps), ids) for eps in grid}
    best = max(grid, key=lambda e: scores[e].get("ari_all", -1.0))
    return {"eps": best, "grid": {str(e): v for e, v in scores.items()}}


def contrast_run(init: Path, root: Path, run: Path, seed: int, eps: float, a: argparse.Namespace) -> Dict[str, Any]:
    """A Cluster Contrast run from `init` on a benchmark's unlabelled train split."""
    from reidzoo.finetune.cluster_contrast import ClusterContrastConfig, cluster_contrast
    done = run / "result.json"
    if done.exists():
        return json.loads(done.read_text())
    cfg = ClusterContrastConfig(model=a.model, init=str(init), dataset="synthetic", root=str(root),
                                input_size=tuple(a.size), pad=a.pad, self_norm=False, epochs=a.epochs,
                                iters=a.iters, p=8, k=4, lr=a.lr, eps=eps, neck=a.neck, sampler=a.sampler,
                                eval_every=a.epochs,
                                num_workers=0,
                                batch_size_eval=100, seed=seed)
    t = time.perf_counter()
    res = cluster_contrast(cfg, run, overwrite=True, progress=False)
    out = {"start_mAP": res["start"]["mAP"], "last_mAP": res["last"]["mAP"], "seconds": time.perf_counter() - t,
           "epochs": [{k: h.get(k) for k in ("epoch", "clusters", "outliers", "ari", "purity", "loss", "mAP")}
                      for h in res["history"]]}
    done.write_text(json.dumps(out))
    return out


def sample_std(v: np.ndarray) -> float:
    """Standard deviation over seeds with Bessel's correction (0 for one seed), as docs/experiment.md."""
    return float(np.std(v, ddof=1)) if len(v) > 1 else 0.0


def main(argv=None) -> int:
    """Run the measurement and print the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("runs/cc_synthetic"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--size", type=int, nargs=2, default=[64, 32], metavar=("H", "W"), help="input size")
    ap.add_argument("--pad", type=int, default=3, help="pad-and-crop pixels (10 at 256x128)")
    ap.add_argument("--ids-train", type=int, default=50)
    ap.add_argument("--ids-test", type=int, default=30)
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--images-per-id", type=int, default=16, help="16: about Market-1501's 17 per train identity")
    ap.add_argument("--uda-camera-shift", type=float, default=1.5,
                    help="the uda world's colour casts and brightness errors, x the default cameras'")
    ap.add_argument("--source-epochs", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=16, help="Cluster Contrast epochs")
    ap.add_argument("--lr", type=float, default=1e-4,
                    help="Adam lr: the release's 3.5e-4 at 256 images, x sqrt(32 / 256) for batches of 32")
    ap.add_argument("--iters", type=int, default=20, help="Cluster Contrast steps per epoch (batches of 8 x 4)")
    ap.add_argument("--eps", default="auto",
                    help="DBSCAN radius, or auto: the best of 0.2..0.6 on the source benchmark's test split")
    ap.add_argument("--neck", action=argparse.BooleanOptionalAction, default=False,
                    help="the release's BN neck (off by default: with batches of 32 its batch statistics "
                         "lower held-out mAP even when trained on the true labels; docs/cluster_contrast.md)")
    ap.add_argument("--sampler", choices=("camera", "random"), default="random",
                    help="P x K over pseudo identities: K at random (default; what the settings were chosen "
                         "with), or the release's K across cameras")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, help="also write the results here")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    rows: List[Dict[str, Any]] = []
    for seed in a.seeds:
        roots = worlds(a.work, seed, a)
        run = a.work / f"s{seed}" / "runs"
        src_run = run / f"source_e{a.source_epochs}"
        src = source_model(roots["source"], src_run, seed, a)
        hub = src_run / "hub"
        chosen = choose_eps(hub, roots["source"], EPS_GRID, a) if a.eps == "auto" else {"eps": float(a.eps)}
        eps = chosen["eps"]
        uda_world = f"uda_shift{a.uda_camera_shift}"
        tag = (f"from_e{a.source_epochs}_eps{eps}_lr{a.lr}_ep{a.epochs}" + ("_neck" if a.neck else "")
               + ("_cam" if a.sampler == "camera" else ""))
        usl = contrast_run(hub, roots["usl"], run / f"usl_{tag}", seed, eps, a)
        uda = contrast_run(hub, roots[uda_world], run / f"{uda_world}_{tag}", seed, eps, a)
        direct_avg = as_trained_map(hub, roots[uda_world], a)
        rows.append({"seed": seed, "eps": eps, "eps_choice": chosen, "source_mAP": src["source_mAP"],
                     "usl_start": usl["start_mAP"], "usl_last": usl["last_mAP"], "uda_direct_avg": direct_avg,
                     "uda_direct_gem": uda["start_mAP"], "uda_last": uda["last_mAP"], "usl": usl, "uda": uda,
                     "source_s": src["seconds"]})
        print(json.dumps({k: v for k, v in rows[-1].items() if k not in ("usl", "uda", "eps_choice")}), flush=True)
    cols = ["source_mAP", "usl_start", "usl_last", "uda_direct_avg", "uda_direct_gem", "uda_last"]
    print(f"\n{a.model} {a.size[0]}x{a.size[1]}, seeds {a.seeds}, eps {[r['eps'] for r in rows]}: mAP % (mean +- std)")
    for c in cols:
        v = 100 * np.array([r[c] for r in rows])
        print(f"  {c:<16}{v.mean():6.1f} +- {sample_std(v):4.1f}   " + "  ".join(f"{x:.1f}" for x in v))
    gain_usl = 100 * np.array([r["usl_last"] - r["usl_start"] for r in rows])
    gain_uda = 100 * np.array([r["uda_last"] - max(r["uda_direct_avg"], r["uda_direct_gem"]) for r in rows])
    for name, g in (("USL gain", gain_usl), ("UDA gain over direct transfer", gain_uda)):
        print(f"  {name} {g.mean():+.1f} +- {sample_std(g):.1f} (per seed: {', '.join(f'{x:+.1f}' for x in g)})")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()},
                                      "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
