"""The pre-training experiment: none vs instance-level vs tracklet-level vs CION initialisation.

On the synthetic world, per seed: render videos and a Market-format benchmark with disjoint people,
mine tracklets, denoise them into cross-video identities, then pre-train one backbone three times
at equal compute (same steps x batch, same crops) with three label files, and fine-tune all four
initialisations (random included) with one identical config. Each stage's output is cached under
the work dir, so a re-run resumes; a (variant, seed) whose result.json exists is skipped.

    from cion.experiment import ExperimentConfig, run_experiment
    run_experiment(ExperimentConfig(work="runs/experiment", seeds=[0, 1, 2], budget="full"))
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

VARIANTS = ("none", "instance", "tracklet", "cion")
VARIANT_TITLES = {"none": "none (random init)", "instance": "instance-level (K=1)",
                  "tracklet": "single-video tracklet-level", "cion": "CION (denoised cross-video)"}
METRICS = ("frozen_mAP", "frozen_rank1", "finetuned_mAP", "finetuned_rank1")


@dataclass(frozen=True)
class Budget:
    """Sizes of one experiment: world, mining, pre-training and fine-tuning (same for every variant)."""

    # world (videos for pre-training; a benchmark of other people for fine-tuning / evaluation)
    n_videos: int
    people_per_video: tuple
    frames: int
    width: int
    height: int
    n_video_identities: int
    market_train_ids: int
    market_test_ids: int
    market_cameras: int
    market_images_per_id: int
    # mining
    min_height: int
    max_crops: int
    # pre-training (derived from configs/pretrain/cpu_smoke.yaml)
    pt_epochs: int
    pt_batch: int
    pt_steps_per_epoch: int            # cap; the common natural epoch length is used if smaller
    pt_gradual_epochs: tuple
    pt_gradual_instances: tuple        # K schedule of the tracklet and CION variants (instance: K=1)
    pt_global_size: tuple
    pt_local_size: tuple
    pt_local_crops: int
    pt_out_dim: int
    pt_hidden_dim: int
    pt_bottleneck_dim: int
    pt_warmup_epochs: int
    # fine-tuning
    ft_epochs: int
    ft_p: int
    ft_k: int
    ft_iters_per_epoch: Optional[int]  # None: the sampler's whole epoch


BUDGETS: Dict[str, Budget] = {
    # Seconds per stage: for the test and for trying the pipeline. Numbers from it mean nothing.
    "small": Budget(n_videos=3, people_per_video=(3, 3), frames=80, width=320, height=180, n_video_identities=5,
                    market_train_ids=8, market_test_ids=8, market_cameras=3, market_images_per_id=4,
                    min_height=24, max_crops=6,
                    pt_epochs=2, pt_batch=8, pt_steps_per_epoch=2, pt_gradual_epochs=(1, 2),
                    pt_gradual_instances=(2, 4), pt_global_size=(128, 64), pt_local_size=(64, 32),
                    pt_local_crops=2, pt_out_dim=512, pt_hidden_dim=128, pt_bottleneck_dim=64, pt_warmup_epochs=1,
                    ft_epochs=1, ft_p=4, ft_k=2, ft_iters_per_epoch=2),
    # ~40 min for 3 seeds on a quiet 2-core machine (see docs/experiment.md for the measured split).
    "full": Budget(n_videos=12, people_per_video=(3, 5), frames=240, width=480, height=270, n_video_identities=16,
                   market_train_ids=40, market_test_ids=40, market_cameras=4, market_images_per_id=6,
                   min_height=40, max_crops=8,
                   pt_epochs=8, pt_batch=32, pt_steps_per_epoch=6, pt_gradual_epochs=(4, 8),
                   pt_gradual_instances=(2, 4), pt_global_size=(128, 64), pt_local_size=(64, 32),
                   pt_local_crops=2, pt_out_dim=4096, pt_hidden_dim=512, pt_bottleneck_dim=128, pt_warmup_epochs=1,
                   ft_epochs=6, ft_p=8, ft_k=4, ft_iters_per_epoch=None),
}


@dataclass
class ExperimentConfig:
    """What to run: where, which seeds, which budget and backbone, how many threads."""

    work: str = "runs/experiment"
    seeds: List[int] = field(default_factory=lambda: [0, 1, 2])
    budget: str = "full"
    model: str = "ghostnet_1_0"
    variants: List[str] = field(default_factory=lambda: list(VARIANTS))
    denoise_features: str = "colour"   # colour | random (see denoise())
    denoise_distance: Optional[float] = None  # merge distance d of the denoiser; None: calibrated
    threads: int = 0                   # torch threads (0: torch's default)
    num_workers: int = 1               # data loader workers of pre-training and fine-tuning
    progress: bool = True


class ExperimentError(ValueError):
    """A user-fixable problem with the experiment's arguments or work dir."""


def _say(msg: str) -> None:
    print(f"[experiment] {msg}", flush=True)


def _write_json(path: Path, data: Any) -> None:
    """Atomic JSON write (temporary name + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------------ shared stages

def make_world(seed_dir: Path, b: Budget, seed: int, progress: bool) -> Dict[str, Path]:
    """Videos (identities 0..n-1) and a benchmark of identities after them: the two never share a person."""
    from reidzoo.data.synthetic import make_market_like, make_videos
    videos, market = seed_dir / "world" / "videos", seed_dir / "world" / "market"
    if not (videos / "identities.json").exists():
        make_videos(videos, n_videos=b.n_videos, people_per_video=b.people_per_video, frames=b.frames, seed=seed,
                    width=b.width, height=b.height, n_identities=b.n_video_identities, identity_offset=0,
                    overwrite=True, progress=progress)
    if not (market / "query").is_dir():
        make_market_like(market, n_ids_train=b.market_train_ids, n_ids_test=b.market_test_ids,
                         cameras=b.market_cameras, images_per_id=b.market_images_per_id, seed=seed,
                         identity_offset=b.n_video_identities, overwrite=True, progress=progress)
    return {"videos": videos, "market": market}


def gt_detections(videos_root: Path, out: Path) -> Path:
    """One MOTChallenge det.txt per video from the ground-truth boxes (ids and visibility dropped).

    Perfect boxes take the detector out of the comparison; ByteTrack, the purity filters and the
    crop sampling of the mining stage still run, so tracklets still fragment as in real mining.
    """
    out.mkdir(parents=True, exist_ok=True)
    for gt in sorted((videos_root / "gt").glob("*/gt.txt")):
        rows = [line.split(",") for line in gt.read_text().splitlines() if line.strip()]
        _write_text(out / f"{gt.parent.name}.txt",
                    "".join(f"{r[0]},-1,{r[2]},{r[3]},{r[4]},{r[5]},1.0,-1,-1,-1\n" for r in rows))
    return out


def mine(seed_dir: Path, videos_root: Path, b: Budget, progress: bool) -> Path:
    """cion.mining on the world's videos (finished videos are skipped on a re-run)."""
    from cion.mining.pipeline import MiningConfig, mine_videos
    from cion.mining.tracklets import FilterConfig
    mined = seed_dir / "mined"
    if (mined / "tracklets.jsonl").exists() and (mined / "run_summary.json").exists():
        return mined
    det = gt_detections(videos_root, seed_dir / "det")
    cfg = MiningConfig(detector="file", detections=str(det),
                       filters=FilterConfig(min_height=b.min_height, max_crops=b.max_crops))
    summary = mine_videos([videos_root / "videos"], mined, cfg, progress=progress)
    if not (mined / "tracklets.jsonl").exists() or not (mined / "tracklets.jsonl").read_text().strip():
        raise ExperimentError(f"mining wrote no tracklets into {mined} (summary: {summary}); "
                              f"a larger budget (more frames / bigger people) is needed")
    return mined


DENOISE_FEATURES = ("colour", "random")


def denoise(seed_dir: Path, mined: Path, model: str, seed: int, features: str, progress: bool,
            distance: Optional[float] = None) -> Path:
    """cion.denoise on the mined tracklets, one round with calibrated thresholds.

    features="colour": body-band colour histograms (reidzoo.baselines); "random": a random-init
    copy of the backbone. Both go through the tracklet-folder mode (features cached by cion.denoise). `distance`
    overrides the calibrated merge distance d (None: calibrated from the data).
    """
    from cion.denoise import denoise_tracklet_folder, round_configs
    from reidzoo.baselines import COLOUR_HIST_NAME
    out = seed_dir / "denoise"
    if (out / "annotations.json").exists():
        return out / "annotations.json"
    log = _say if progress else None
    rounds = round_configs(1, distance=[distance] if distance else None)
    if features == "colour":
        denoise_tracklet_folder(mined, out, models=[COLOUR_HIST_NAME], rounds=rounds, overwrite=True, log=log,
                                progress=progress)
    elif features == "random":
        import torch
        torch.manual_seed(seed)
        denoise_tracklet_folder(mined, out, models=[model], rounds=rounds, random_init=True,
                                batch_size=32, overwrite=True, log=log, progress=progress)
    else:
        raise ExperimentError(f"unknown denoising features {features!r}; choose one of {', '.join(DENOISE_FEATURES)}")
    return out / "annotations.json"


def label_files(seed_dir: Path, mined: Path, cion_annotations: Path) -> Dict[str, Path]:
    """CION-AL label files of the three pre-trained variants, all relative to the mining folder."""
    from cion.denoise.inputs import read_tracklets
    out = seed_dir / "labels"
    files = {"instance": out / "instance.json", "tracklet": out / "tracklet.json", "cion": cion_annotations}
    if files["instance"].exists() and files["tracklet"].exists():
        return files
    tr = read_tracklets(mined)
    order = np.lexsort((tr.file_path, tr.tracklet, tr.video))
    paths = [str(tr.file_path[i]) for i in order]
    _write_json(files["instance"], [{"file_path": p, "id": i} for i, p in enumerate(paths)])
    keys = [(str(tr.video[i]), int(tr.tracklet[i])) for i in order]
    ids = {k: n for n, k in enumerate(dict.fromkeys(keys))}
    _write_json(files["tracklet"], [{"file_path": p, "id": ids[k]} for p, k in zip(paths, keys)])
    return files


def label_quality(videos_root: Path, mined: Path, files: Dict[str, Path]) -> Dict[str, Dict[str, float]]:
    """How close each label file is to the true identities (pairwise / BCubed precision and recall)."""
    from cion.denoise import cluster_scores
    from cion.denoise.groundtruth import crop_identities
    from cion.denoise.inputs import read_tracklets
    tr = read_tracklets(mined)
    gt = crop_identities(videos_root, tr.video, tr.frame, tr.bbox)
    index = {str(p): i for i, p in enumerate(tr.file_path)}
    out = {}
    for name, path in files.items():
        ann = json.loads(Path(path).read_text())
        rows = np.array([index[a["file_path"]] for a in ann], dtype=np.int64)
        labels = np.array([a["id"] for a in ann], dtype=np.int64)
        scores = cluster_scores(labels, gt[rows])
        videos_of: Dict[int, set] = {}
        for lab, r in zip(labels.tolist(), rows.tolist()):
            videos_of.setdefault(lab, set()).add(str(tr.video[r]))
        out[name] = {"images": len(ann), "identities": int(len(set(labels.tolist()))),
                     "cross_video_identities": int(sum(len(v) > 1 for v in videos_of.values())),
                     "true_identities": int(len(set(gt[rows][gt[rows] >= 0].tolist()))),
                     **{k: round(float(v), 4) for k, v in scores.items()}}
    return out


# ------------------------------------------------------------------------------------------ pre-training

def pretrain_config(b: Budget, model: str, image_root: Path, annotations: Path, out_dir: Path, seed: int,
                    instances: Sequence[int], steps_per_epoch: int, threads: int, num_workers: int):
    """The pre-training config of one variant: configs/pretrain/cpu_smoke.yaml with the budget's sizes."""
    from cion.pretrain.config import config_from_dict
    import yaml
    smoke = Path(__file__).resolve().parents[1] / "configs" / "pretrain" / "cpu_smoke.yaml"
    data = yaml.safe_load(smoke.read_text()) if smoke.is_file() else {}
    data.update(model=model, image_root=str(image_root), annotations=str(annotations), output_dir=str(out_dir),
                seed=seed, epochs=b.pt_epochs, batch_size_per_gpu=b.pt_batch,
                gradual_epochs=list(b.pt_gradual_epochs), gradual_instances=list(instances),
                max_steps_per_epoch=steps_per_epoch, global_size=list(b.pt_global_size),
                local_size=list(b.pt_local_size), local_crops=b.pt_local_crops, out_dim=b.pt_out_dim,
                hidden_dim=b.pt_hidden_dim, bottleneck_dim=b.pt_bottleneck_dim, warmup_epochs=b.pt_warmup_epochs,
                device="cpu", precision="fp32", threads=threads, num_workers=num_workers, save_every_steps=0)
    return config_from_dict(data, "experiment pre-training config")


def instances_of(variant: str, b: Budget) -> List[int]:
    """K schedule: instance-level sees each image as its own identity (K=1, plain DINO)."""
    return [1] * len(b.pt_gradual_instances) if variant == "instance" else list(b.pt_gradual_instances)


def common_steps_per_epoch(b: Budget, files: Dict[str, Path]) -> Dict[str, Any]:
    """Steps per epoch every pre-trained variant can run: the smallest natural epoch, capped by the budget."""
    from cion.pretrain.data import read_annotations
    from cion.pretrain.sampler import IdentityBatchSampler, k_for_epoch
    natural = {}
    for variant, path in files.items():
        labels = [lab for _, lab in read_annotations(path)]
        lens = []
        for k in sorted({k_for_epoch(e, b.pt_gradual_epochs, instances_of(variant, b)) for e in range(b.pt_epochs)}):
            if b.pt_batch % k:
                raise ExperimentError(f"batch {b.pt_batch} is not a multiple of K={k}")
            try:
                lens.append(len(IdentityBatchSampler(labels, b.pt_batch // k, k)))
            except ValueError as e:
                raise ExperimentError(f"{variant} labels ({path}) cannot fill a batch: {e}; "
                                      f"use a larger world or a smaller pt_batch") from None
        natural[variant] = min(lens)
    steps = min(b.pt_steps_per_epoch, *natural.values())
    if steps < 1:
        raise ExperimentError(f"a pre-training epoch would hold no step ({natural}); use a larger world")
    return {"steps_per_epoch": steps, "natural_steps_per_epoch": natural}


def run_pretrain(cfg, progress: bool) -> Dict[str, Any]:
    """Pre-train (resuming a stopped run) unless finished; returns the summary and wall time."""
    from cion.pretrain.train import pretrain
    out = Path(cfg.output_dir)
    done = out / "experiment_pretrain.json"
    if done.exists():
        return json.loads(done.read_text())
    t0 = time.time()
    summary = pretrain(cfg, resume=(out / "checkpoint.pth").exists(), progress=progress)
    summary["wall_s"] = round(time.time() - t0, 1)
    _write_json(done, summary)
    return summary


# ------------------------------------------------------------------------------------------ one run

def finetune_config(b: Budget, model: str, init: Path, market: Path, seed: int, num_workers: int):
    """The fine-tuning config, identical for every variant but `init`."""
    from reidzoo.finetune import FinetuneConfig
    return FinetuneConfig(model=model, init=str(init), dataset="synthetic", root=str(market), epochs=b.ft_epochs,
                          p=b.ft_p, k=b.ft_k, optimizer="adam", lr=3.5e-4, warmup_epochs=1, schedule="cosine",
                          eval_every=b.ft_epochs, batch_size_eval=64, num_workers=num_workers,
                          max_iters_per_epoch=b.ft_iters_per_epoch, seed=seed, device="cpu")


def finetune_iterations(fcfg, train_pids: Sequence[int]) -> int:
    """Optimisation steps of a fine-tuning run: its P x K sampler's batches per epoch, capped, summed."""
    from reidzoo.finetune.data import PKSampler
    sampler = PKSampler(train_pids, fcfg.p, fcfg.k, seed=fcfg.seed)
    total = 0
    for epoch in range(fcfg.epochs):
        sampler.set_epoch(epoch)
        n = len(sampler) // (fcfg.p * fcfg.k)
        total += n if fcfg.max_iters_per_epoch is None else min(n, fcfg.max_iters_per_epoch)
    return total


def random_init_folder(out: Path, model: str, seed: int) -> Path:
    """The random initialisation as a hub folder, so all four variants start fine-tuning the same way."""
    import torch

    import reidzoo
    if not (out / "config.json").exists():
        torch.manual_seed(seed)
        reidzoo.save_hub_folder(reidzoo.create_model(model).eval(), model, out, overwrite=True,
                                extra={"init": f"random (torch seed {seed})"})
    return out


def run_variant(variant: str, seed: int, cfg: ExperimentConfig, b: Budget, shared: Dict[str, Any]) -> Dict[str, Any]:
    """Pre-train (unless 'none'), export, evaluate frozen, fine-tune, evaluate; cached in result.json."""
    import reidzoo
    from reidzoo.data import Market1501
    from reidzoo.finetune import evaluate_backbone, finetune
    run_dir = Path(shared["seed_dir"]) / variant
    result_file = run_dir / "result.json"
    if result_file.exists():
        return json.loads(result_file.read_text())
    res: Dict[str, Any] = {"variant": variant, "seed": seed, "model": cfg.model, "budget": cfg.budget}
    t0 = time.time()
    if variant == "none":
        hub = random_init_folder(run_dir / "hub", cfg.model, seed)
        res["pretrain"] = {"iterations": 0, "images_seen": 0, "crops_seen": 0, "wall_s": 0.0}
    else:
        pcfg = pretrain_config(b, cfg.model, shared["mined"], shared["labels"][variant], run_dir / "pretrain", seed,
                               instances_of(variant, b), shared["steps_per_epoch"], cfg.threads, cfg.num_workers)
        summary = run_pretrain(pcfg, cfg.progress)
        views = 2 + b.pt_local_crops
        res["pretrain"] = {"iterations": summary["iterations"], "images_seen": summary["iterations"] * b.pt_batch,
                           "crops_seen": summary["iterations"] * b.pt_batch * views, "wall_s": summary["wall_s"],
                           "failed_images": summary.get("failed_images", 0),
                           "annotations": str(shared["labels"][variant]),
                           "K": instances_of(variant, b), "steps_per_epoch": shared["steps_per_epoch"]}
        from cion.pretrain.export import export_teacher
        hub = run_dir / "hub"
        if not (hub / "config.json").exists():
            export_teacher(Path(pcfg.output_dir) / "checkpoint.pth", hub, overwrite=True)
    fcfg = finetune_config(b, cfg.model, hub, shared["market"], seed, cfg.num_workers)
    dataset = Market1501(shared["market"])
    t1 = time.time()
    frozen = evaluate_backbone(reidzoo.load(hub), dataset, fcfg, progress=cfg.progress)
    res["frozen"] = {k: frozen[k] for k in ("mAP", "rank1", "rank5", "mINP")}
    t2 = time.time()
    out = finetune(fcfg, run_dir / "finetune", resume=True, progress=cfg.progress)
    last = out["history"][-1]
    res["finetuned"] = {k: last[k] for k in ("mAP", "rank1", "rank5", "mINP")}
    iters = finetune_iterations(fcfg, [pid for _, pid, _ in dataset.train])
    res["finetune"] = {"epochs": b.ft_epochs, "iterations": iters, "images_seen": iters * b.ft_p * b.ft_k,
                       "wall_s": round(time.time() - t2, 1)}
    res["eval_frozen_wall_s"] = round(t2 - t1, 1)
    res["wall_s"] = round(time.time() - t0, 1)
    for k in ("mAP", "rank1"):
        for stage in ("frozen", "finetuned"):
            if not math.isfinite(res[stage][k]):
                raise FloatingPointError(f"{variant} seed {seed}: {stage} {k} is {res[stage][k]}")
    _write_json(result_file, res)
    return res


def prepare_seed(seed: int, cfg: ExperimentConfig, b: Budget) -> Dict[str, Any]:
    """World, mining, denoising, label files and the common pre-training length of one seed (cached)."""
    seed_dir = Path(cfg.work) / f"seed{seed}"
    plan_file = seed_dir / "plan.json"
    if plan_file.exists():
        plan = json.loads(plan_file.read_text())
        plan["labels"] = {k: Path(v) for k, v in plan["labels"].items()}
        plan.update({k: Path(plan[k]) for k in ("seed_dir", "mined", "market", "videos")})
        return plan
    timings = {}
    t = time.time()
    world = make_world(seed_dir, b, seed, cfg.progress)
    timings["world_s"] = round(time.time() - t, 1)
    t = time.time()
    mined = mine(seed_dir, world["videos"], b, cfg.progress)
    timings["mining_s"] = round(time.time() - t, 1)
    t = time.time()
    cion_ann = denoise(seed_dir, mined, cfg.model, seed, cfg.denoise_features, cfg.progress, cfg.denoise_distance)
    timings["denoise_s"] = round(time.time() - t, 1)
    files = label_files(seed_dir, mined, cion_ann)
    steps = common_steps_per_epoch(b, files)
    plan = {"seed_dir": seed_dir, "videos": world["videos"], "market": world["market"], "mined": mined,
            "labels": files, **steps, "label_quality": label_quality(world["videos"], mined, files),
            "timings": timings}
    _write_json(plan_file, json.loads(json.dumps(plan, default=str)))
    return plan


# ------------------------------------------------------------------------------------------ report

def aggregate(runs: List[Dict[str, Any]], variants: Sequence[str]) -> Dict[str, Dict[str, Any]]:
    """Mean and (sample) standard deviation over seeds of every metric, plus compute, per variant."""
    agg = {}
    for v in variants:
        rs = [r for r in runs if r["variant"] == v]
        if not rs:
            continue
        vals = {"frozen_mAP": [r["frozen"]["mAP"] for r in rs], "frozen_rank1": [r["frozen"]["rank1"] for r in rs],
                "finetuned_mAP": [r["finetuned"]["mAP"] for r in rs],
                "finetuned_rank1": [r["finetuned"]["rank1"] for r in rs]}
        agg[v] = {"seeds": [r["seed"] for r in rs],
                  **{k: {"mean": float(np.mean(x)), "std": float(np.std(x, ddof=1)) if len(x) > 1 else 0.0,
                         "values": [float(y) for y in x]} for k, x in vals.items()},
                  "pretrain_images_seen": int(np.mean([r["pretrain"]["images_seen"] for r in rs])),
                  "pretrain_crops_seen": int(np.mean([r["pretrain"]["crops_seen"] for r in rs])),
                  "pretrain_iterations": int(np.mean([r["pretrain"]["iterations"] for r in rs])),
                  "pretrain_wall_s_mean": float(np.mean([r["pretrain"]["wall_s"] for r in rs])),
                  "finetune_iterations": int(np.mean([r["finetune"]["iterations"] for r in rs])),
                  "finetune_wall_s_mean": float(np.mean([r["finetune"]["wall_s"] for r in rs]))}
    return agg


def _pm(m: Dict[str, float]) -> str:
    return f"{100 * m['mean']:.1f} ± {100 * m['std']:.1f}"


def results_markdown(report: Dict[str, Any]) -> str:
    """The results table (percent, mean ± std over seeds) with compute and label quality."""
    agg, cfg = report["aggregate"], report["config"]
    lines = [f"Backbone `{cfg['model']}`, budget `{cfg['budget']}`, seeds {cfg['seeds']}; "
             f"mAP / Rank-1 in %, mean ± std over seeds, on the synthetic Market-format benchmark "
             f"(people disjoint from the pre-training videos).", "",
             "| initialisation | frozen mAP | frozen R1 | fine-tuned mAP | fine-tuned R1 | pre-train steps | "
             "pre-train images (crops) | pre-train wall s | fine-tune steps | fine-tune wall s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for v, a in agg.items():
        lines.append(f"| {VARIANT_TITLES[v]} | {_pm(a['frozen_mAP'])} | {_pm(a['frozen_rank1'])} | "
                     f"{_pm(a['finetuned_mAP'])} | {_pm(a['finetuned_rank1'])} | {a['pretrain_iterations']} | "
                     f"{a['pretrain_images_seen']} ({a['pretrain_crops_seen']}) | {a['pretrain_wall_s_mean']:.0f} | "
                     f"{a['finetune_iterations']} | {a['finetune_wall_s_mean']:.0f} |")
    lines += ["", "Label files per seed (pair precision / recall against the true identities of the crops):", "",
              "| seed | labels | images | identities | of them spanning 2+ videos | true identities | pair precision "
              "| pair recall |", "|---|---|---|---|---|---|---|---|"]
    for seed, plan in report["seeds"].items():
        for name, q in plan["label_quality"].items():
            lines.append(f"| {seed} | {name} | {q['images']} | {q['identities']} | "
                         f"{q.get('cross_video_identities', '?')} | {q['true_identities']} | "
                         f"{q['pair_precision']:.3f} | {q['pair_recall']:.3f} |")
    lines += ["", f"Total wall time: {report['wall_s']:.0f} s."]
    return "\n".join(lines) + "\n"


def plot_results(agg: Dict[str, Dict[str, Any]], path: Path) -> Path:
    """Grouped bars: mAP and Rank-1, frozen and fine-tuned, per variant, with std error bars."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    variants = list(agg)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    x = np.arange(len(variants))
    for ax, metric in zip(axes, ("mAP", "rank1")):
        for j, (stage, colour) in enumerate((("frozen", "#9db4c0"), ("finetuned", "#2b6a8f"))):
            key = f"{stage}_{metric}"
            ax.bar(x + (j - 0.5) * 0.38, [100 * agg[v][key]["mean"] for v in variants], 0.38,
                   yerr=[100 * agg[v][key]["std"] for v in variants], capsize=3, color=colour,
                   label="no fine-tuning" if stage == "frozen" else "fine-tuned")
        ax.set_xticks(x, [{"none": "none", "instance": "instance", "tracklet": "tracklet", "cion": "CION"}[v]
                          for v in variants])
        ax.set_ylabel(f"{'mAP' if metric == 'mAP' else 'Rank-1'} (%)")
        ax.legend(fontsize=8)
    fig.suptitle("Pre-training initialisations on the synthetic benchmark (mean ± std over seeds)", fontsize=10)
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def run_experiment(cfg: ExperimentConfig, on_run: Optional[Callable[[Dict[str, Any]], None]] = None) -> Dict[str, Any]:
    """Every (variant, seed) run, then WORK/results.json, results.md and results.png."""
    if cfg.budget not in BUDGETS:
        raise ExperimentError(f"unknown budget {cfg.budget!r}; choose one of {', '.join(BUDGETS)}")
    bad = [v for v in cfg.variants if v not in VARIANTS]
    if bad or not cfg.variants:
        raise ExperimentError(f"unknown variants {bad}; choose from {', '.join(VARIANTS)}")
    if not cfg.seeds:
        raise ExperimentError("give at least one seed")
    import reidzoo
    if cfg.model not in reidzoo.model_names():
        raise ExperimentError(f"unknown model {cfg.model!r}; see `python tools/zoo.py list`")
    b = BUDGETS[cfg.budget]
    work = Path(cfg.work)
    work.mkdir(parents=True, exist_ok=True)
    # A work dir belongs to one (budget, model): mixing would average incomparable runs.
    if cfg.denoise_features not in DENOISE_FEATURES:
        raise ExperimentError(f"unknown denoising features {cfg.denoise_features!r}; "
                              f"choose one of {', '.join(DENOISE_FEATURES)}")
    stamp = {"budget": cfg.budget, "model": cfg.model, "denoise_features": cfg.denoise_features,
             "denoise_distance": cfg.denoise_distance, "budget_sizes": asdict(b)}
    stamp_file = work / "experiment.json"
    if stamp_file.exists():
        old = json.loads(stamp_file.read_text())
        mine_ = (cfg.budget, cfg.model, cfg.denoise_features, cfg.denoise_distance)
        theirs = (old.get("budget"), old.get("model"), old.get("denoise_features", "random"),
                  old.get("denoise_distance"))
        if theirs != mine_:
            raise ExperimentError(f"{work} holds an experiment with (budget, model, denoising features, distance) "
                                  f"{theirs}; "
                                  f"use another --work for {mine_}")
    else:
        _write_json(stamp_file, json.loads(json.dumps(stamp)))
    if cfg.threads:
        import torch
        torch.set_num_threads(cfg.threads)
    t0 = time.time()
    runs, seeds_info = [], {}
    for seed in cfg.seeds:
        _say(f"seed {seed}: world, mining, denoising")
        plan = prepare_seed(seed, cfg, b)
        seeds_info[str(seed)] = json.loads(json.dumps(
            {k: plan[k] for k in ("steps_per_epoch", "natural_steps_per_epoch", "label_quality", "timings")},
            default=str))
        for variant in cfg.variants:
            _say(f"seed {seed}: {VARIANT_TITLES[variant]}")
            r = run_variant(variant, seed, cfg, b, plan)
            runs.append(r)
            _say(f"seed {seed} {variant}: frozen mAP {100 * r['frozen']['mAP']:.1f} R1 {100 * r['frozen']['rank1']:.1f}"
                 f" | fine-tuned mAP {100 * r['finetuned']['mAP']:.1f} R1 {100 * r['finetuned']['rank1']:.1f}")
            if on_run:
                on_run(r)
    report = {"config": {**asdict(replace(cfg, progress=False)), "budget_sizes": asdict(b)},
              "runs": runs, "aggregate": aggregate(runs, cfg.variants), "seeds": seeds_info,
              "wall_s": round(time.time() - t0, 1)}
    _write_json(work / "results.json", report)
    _write_text(work / "results.md", results_markdown(report))
    plot_results(report["aggregate"], work / "results.png")
    _say(f"wrote {work / 'results.json'}, {work / 'results.md'}, {work / 'results.png'}")
    return report
