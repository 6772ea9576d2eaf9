"""Sweep CION pre-training regimes on the synthetic world and print one table row per run.

A row: final loss vs ln(out_dim), final teacher entropy ratio, and the frozen-feature mAP of the
teacher backbone on held-out identities under the BN rule (reidzoo.bn.reestimate_bn on the probe's
train images), next to the same number for the random initialisation of the same seed.

  python benchmarks/pretrain_sweep.py --work runs/sweep --name base --seeds 0 \\
      --set out_dim=1024 centering=sinkhorn epochs=10 max_steps_per_epoch=100

The world (a pre-training corpus of synthetic people and a disjoint probe benchmark) is built once
under --work and reused. Results append to --work/results.jsonl.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch


def build_world(work: Path, corpus_ids: int, images_per_id: int, probe_train: int, probe_test: int,
                seed: int = 0) -> tuple[Path, Path, Path]:
    """(corpus root, its CION-AL annotations, probe root); identities of corpus and probe are disjoint."""
    from reidzoo.data.synthetic import make_market_like

    from cion.pretrain.data import annotations_from_market
    corpus = work / f"corpus_{corpus_ids}x{images_per_id}"
    probe = work / f"probe_{probe_train}_{probe_test}"
    if not (corpus / "query").exists():
        make_market_like(corpus, n_ids_train=corpus_ids, n_ids_test=1, images_per_id=images_per_id, cameras=4,
                         seed=seed, identity_offset=0, progress=True)
    annos = corpus / "cional_annotations.json"
    if not annos.exists():
        annotations_from_market(corpus, annos)
    if not (probe / "query").exists():
        make_market_like(probe, n_ids_train=probe_train, n_ids_test=probe_test, cameras=4, images_per_id=8,
                         seed=seed, identity_offset=20_000, progress=True)
    return corpus, annos, probe


def init_signal(cfg) -> dict:
    """Centred cosine of random-init teacher features between the two global crops of one batch.

    same_image: the two crops of an image; same_identity: crops of different images of one identity;
    different: other identities. Near 0 everywhere: the targets carry no image information to learn from.
    """
    import torch.nn.functional as F

    from cion.pretrain.augment import normalize_views
    from cion.pretrain.train import Pretrainer
    tr = Pretrainer(cfg, progress=False)
    batch = next(iter(tr._loader(tr._sampler(0))))
    g1, g2 = (normalize_views(v) for v in batch["views"][:2])
    with torch.no_grad():
        f = tr.teacher.backbone(torch.cat([g1, g2]))                  # train-mode BN, as in training
    f = f - f.mean(0)
    a, b = F.normalize(f[:len(g1)], dim=1), F.normalize(f[len(g1):], dim=1)
    sim = a @ b.T
    ids = batch["ids"]
    same_id = (ids[:, None] == ids[None, :]) & ~torch.eye(len(ids), dtype=torch.bool)
    return {"same_image": float(sim.diag().mean()), "same_identity": float(sim[same_id].mean()),
            "different": float(sim[ids[:, None] != ids[None, :]].mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="runs/pretrain_sweep")
    ap.add_argument("--name", required=True, help="row name (run folders: WORK/NAME_sSEED)")
    ap.add_argument("--config", default="configs/pretrain/cpu_smoke.yaml")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="PretrainConfig overrides")
    ap.add_argument("--corpus-ids", type=int, default=300)
    ap.add_argument("--images-per-id", type=int, default=8)
    ap.add_argument("--probe-train", type=int, default=30)
    ap.add_argument("--probe-test", type=int, default=40)
    ap.add_argument("--world-only", action="store_true", help="build the world and stop")
    ap.add_argument("--eval-only", action="store_true",
                    help="do not train: evaluate the existing WORK/NAME_sSEED/checkpoint.pth")
    ap.add_argument("--probe-sizes", nargs="*", default=[], metavar="HxW",
                    help="also probe random init and teacher at these image sizes (e.g. 128x64 256x128)")
    ap.add_argument("--signal", action="store_true",
                    help="only print the random-init feature similarity of crops (init_signal) per seed")
    args = ap.parse_args()

    from cion.pretrain.checkpoint import load_checkpoint
    from cion.pretrain.config import load_config
    from cion.pretrain.model import build_backbone
    from cion.pretrain.probe import frozen_map, load_probe
    from cion.pretrain.train import pretrain

    torch.set_num_threads(1)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    corpus, annos, probe_root = build_world(work, args.corpus_ids, args.images_per_id, args.probe_train,
                                            args.probe_test)
    if args.world_only:
        return
    for seed in args.seeds:
        out = work / f"{args.name}_s{seed}"
        cfg = load_config(args.config, [f"image_root={corpus}", f"annotations={annos}", f"output_dir={out}",
                                        f"seed={seed}", "threads=1", "num_workers=0", *args.set])
        if args.signal:
            print(args.name, seed, {k: round(v, 3) for k, v in init_signal(cfg).items()}, flush=True)
            continue
        probe = load_probe(probe_root, cfg.probe_size or cfg.augment.global_size, cfg.probe_bn_images, seed=0)
        torch.manual_seed(seed)  # the random initialisation this seed's run starts from
        rand_backbone = build_backbone(cfg.model, cfg.augment.local_size, cfg.augment.global_size, cfg.init_weights)[0]
        rand = frozen_map(rand_backbone, probe)
        t0 = time.time()
        if not args.eval_only:
            pretrain(cfg, progress=False)
        wall = time.time() - t0
        ck = load_checkpoint(out / "checkpoint.pth", map_location="cpu")
        teacher = build_backbone(cfg.model, cfg.augment.local_size, cfg.augment.global_size)[0]
        teacher.load_state_dict({k[9:]: v for k, v in ck["teacher"].items() if k.startswith("backbone.")})
        pre = frozen_map(teacher, probe)
        student = build_backbone(cfg.model, cfg.augment.local_size, cfg.augment.global_size)[0]
        student.load_state_dict({k[9:]: v for k, v in ck["student"].items() if k.startswith("backbone.")})
        stu = frozen_map(student, probe)
        sizes = {}
        for hw in args.probe_sizes:
            extra = load_probe(probe_root, [int(v) for v in hw.lower().split("x")], cfg.probe_bn_images, seed=0)
            sizes[hw] = {"random": frozen_map(rand_backbone, extra)["mAP"], "teacher": frozen_map(teacher, extra)["mAP"]}
            print(f"{args.name} seed {seed} probe {hw}: random {100 * sizes[hw]['random']:.1f}, "
                  f"teacher {100 * sizes[hw]['teacher']:.1f}", flush=True)
        steps = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines() if '"loss"' in x]
        tail = steps[-20:]
        row = {"name": args.name, "seed": seed, "set": args.set, "steps": len(steps), "wall_s": round(wall),
               "ln_D": math.log(cfg.out_dim),
               "loss_end": sum(r["loss"] for r in tail) / len(tail),
               "entropy_ratio_end": sum(r["teacher_entropy_ratio"] for r in tail) / len(tail),
               "cosine_end": sum(r["feature_cosine"] for r in tail) / len(tail),
               "mAP_random": rand["mAP"], "mAP_pretrained": pre["mAP"], "mAP_student": stu["mAP"],
               "probe_curve": [(r["it"], r["probe_mAP"]) for r in steps if "probe_mAP" in r],
               "probe_sizes": sizes, "eval_only": args.eval_only}
        with open(work / "results.jsonl", "a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(f"| {args.name} | {seed} | {row['steps']} | {row['wall_s']} | {row['loss_end']:.3f} / "
              f"{row['ln_D']:.3f} | {row['entropy_ratio_end']:.3f} | {row['cosine_end']:.3f} | "
              f"{100 * rand['mAP']:.1f} | {100 * pre['mAP']:.1f} | {100 * stu['mAP']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
