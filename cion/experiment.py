"""The pre-training experiment: none vs instance-level vs tracklet-level vs CION initialisation.

On the synthetic world, per seed: render videos and a Market-format benchmark with disjoint people,
mine tracklets, denoise them into cross-video identities, then pre-train one backbone three times
at equal compute (same steps x batch, same crops) with three label files, and fine-tune all four
initialisations (random included) with one identical config. The stages are cion.stages' (each
one's folder under the work dir is skipped once finished, so a re-run resumes); a (variant, seed)
whose result.json exists is skipped. Budgets are the packaged presets cion/configs/experiment_*.yaml.

    from cion.experiment import ExperimentConfig, run_experiment
    run_experiment(ExperimentConfig(work="runs/experiment", seeds=[0, 1, 2], budget="full"))
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from reidzoo.atomic import atomic_path, atomic_write_text

from .stages import DENOISE_FEATURES, StageError, Stages, preset_names, write_json

VARIANTS = ("none", "instance", "tracklet", "cion")
VARIANT_TITLES = {"none": "none (random init)", "instance": "instance-level (K=1)",
                  "tracklet": "single-video tracklet-level", "cion": "CION (denoised cross-video)"}
METRICS = ("frozen_mAP", "frozen_rank1", "finetuned_mAP", "finetuned_rank1")

BUDGET_PREFIX = "experiment_"
BUDGETS = tuple(n[len(BUDGET_PREFIX):] for n in preset_names(BUDGET_PREFIX))

# One error type for every user-fixable problem of the pipeline (bad arguments, a foreign work dir).
ExperimentError = StageError


def load_budget(name: str) -> Dict[str, Any]:
    """The packaged preset of a budget (cion/configs/experiment_NAME.yaml) as plain data."""
    from .stages import load_preset
    if name not in BUDGETS:
        raise ExperimentError(f"unknown budget {name!r}; choose one of {', '.join(BUDGETS)}")
    return load_preset(BUDGET_PREFIX + name)


@dataclass
class ExperimentConfig:
    """What to run: where, which seeds, which budget and backbone, how many threads."""

    work: str = "runs/experiment"
    seeds: List[int] = field(default_factory=lambda: [0, 1, 2])
    budget: str = "full"
    model: str = "resnet18"
    variants: List[str] = field(default_factory=lambda: list(VARIANTS))
    denoise_features: str = "colour"   # colour | random (see cion.stages.denoise)
    denoise_distance: Optional[float] = None  # merge distance d of the denoiser; None: calibrated
    threads: int = 0                   # torch threads (0: torch's default)
    num_workers: int = 1               # data loader workers of pre-training and fine-tuning
    progress: bool = True


def _say(msg: str) -> None:
    print(f"[experiment] {msg}", flush=True)


def _write_text(path: Path, text: str) -> None:
    atomic_write_text(path, text)


# ------------------------------------------------------------------------------------------ labels

def label_files(out: Path, mined: Path, cion_annotations: Path) -> Dict[str, Path]:
    """CION-AL label files of the three pre-trained variants, all relative to the mining folder."""
    from cion.denoise.inputs import read_tracklets
    files = {"instance": out / "instance.json", "tracklet": out / "tracklet.json", "cion": cion_annotations}
    tr = read_tracklets(mined)
    order = np.lexsort((tr.file_path, tr.tracklet, tr.video))
    paths = [str(tr.file_path[i]) for i in order]
    write_json(files["instance"], [{"file_path": p, "id": i} for i, p in enumerate(paths)])
    keys = [(str(tr.video[i]), int(tr.tracklet[i])) for i in order]
    ids = {k: n for n, k in enumerate(dict.fromkeys(keys))}
    write_json(files["tracklet"], [{"file_path": p, "id": ids[k]} for p, k in zip(paths, keys)])
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

def instances_of(variant: str, pre: Dict[str, Any]) -> List[int]:
    """K schedule: instance-level sees each image as its own identity (K=1, plain DINO)."""
    return [1] * len(pre["gradual_instances"]) if variant == "instance" else list(pre["gradual_instances"])


def common_steps_per_epoch(pre: Dict[str, Any], files: Dict[str, Path]) -> Dict[str, Any]:
    """Steps per epoch every pre-trained variant can run: the smallest natural epoch, capped by the budget."""
    from cion.pretrain.data import read_annotations
    from cion.pretrain.sampler import IdentityBatchSampler, k_for_epoch
    batch = pre["batch_size_per_gpu"]
    natural = {}
    for variant, path in files.items():
        labels = [lab for _, lab in read_annotations(path)]
        lens = []
        for k in sorted({k_for_epoch(e, pre["gradual_epochs"], instances_of(variant, pre))
                         for e in range(pre["epochs"])}):
            if batch % k:
                raise ExperimentError(f"batch {batch} is not a multiple of K={k}")
            try:
                lens.append(len(IdentityBatchSampler(labels, batch // k, k)))
            except ValueError as e:
                raise ExperimentError(f"{variant} labels ({path}) cannot fill a batch: {e}; "
                                      f"use a larger world or a smaller batch_size_per_gpu") from None
        natural[variant] = min(lens)
    steps = min(pre["max_steps_per_epoch"], *natural.values())
    if steps < 1:
        raise ExperimentError(f"a pre-training epoch would hold no step ({natural}); use a larger world")
    return {"steps_per_epoch": steps, "natural_steps_per_epoch": natural}


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


# ------------------------------------------------------------------------------------------ one seed, one run

def prepare_seed(seed: int, cfg: ExperimentConfig, budget: Dict[str, Any]) -> Dict[str, Any]:
    """World, mining, denoising, label files and the common pre-training length of one seed (cached stages)."""
    from . import stages as S
    seed_dir = Path(cfg.work) / f"seed{seed}"
    st = Stages(seed_dir, log=_say if cfg.progress else None)
    videos, market, mined = seed_dir / "world" / "videos", seed_dir / "world" / "market", seed_dir / "mined"
    st.run("world: videos", videos, lambda out: S.make_world_videos(out, budget["videos"], seed, cfg.progress),
           params={"seed": seed, **budget["videos"]})
    st.run("world: benchmark", market, lambda out: S.make_world_benchmark(out, budget["benchmark"], seed,
                                                                          cfg.progress),
           params={"seed": seed, **budget["benchmark"]})
    st.run("mining", mined, lambda out: S.mine(out, videos, budget["mining"], progress=cfg.progress),
           params=budget["mining"], resume=True)
    dn = {**budget["denoise"], "features": cfg.denoise_features, "distance": cfg.denoise_distance}
    st.run("denoising", seed_dir / "denoise",
           lambda out: S.denoise(out, mined, dn, cfg.model, seed, cfg.progress, _say if cfg.progress else None),
           params={**dn, "model": cfg.model, "seed": seed})
    cion_annotations = seed_dir / "denoise" / "annotations.json"
    st.run("label files", seed_dir / "labels",
           lambda out: {k: str(v) for k, v in label_files(out, mined, cion_annotations).items()})
    files = {"instance": seed_dir / "labels" / "instance.json", "tracklet": seed_dir / "labels" / "tracklet.json",
             "cion": cion_annotations}
    plan = st.run("plan", seed_dir / "plan",
                  lambda out: {**common_steps_per_epoch(budget["pretrain"], files),
                               "label_quality": label_quality(videos, mined, files)},
                  params=budget["pretrain"])
    timings = {f"{k}_s": round(st.records[n]["wall_s"], 1) for k, n in
               (("world", "world: videos"), ("mining", "mining"), ("denoise", "denoising"))}
    return {"seed_dir": seed_dir, "videos": videos, "market": market, "mined": mined, "labels": files,
            **plan, "timings": timings}


def run_variant(variant: str, seed: int, cfg: ExperimentConfig, budget: Dict[str, Any],
                shared: Dict[str, Any]) -> Dict[str, Any]:
    """Pre-train (unless 'none') and export, evaluate frozen, fine-tune, evaluate; cached in result.json."""
    import reidzoo
    from reidzoo.data import Market1501

    from . import stages as S
    run_dir = Path(shared["seed_dir"]) / variant
    result_file = run_dir / "result.json"
    if result_file.exists():
        return json.loads(result_file.read_text())
    st = Stages(run_dir, log=_say if cfg.progress else None)
    res: Dict[str, Any] = {"variant": variant, "seed": seed, "model": cfg.model, "budget": cfg.budget}
    t0 = time.time()
    pre = budget["pretrain"]
    if variant == "none":
        init_dir = run_dir / "init"
        st.run(f"{variant}: random init", init_dir, lambda out: S.random_init(out, cfg.model, seed),
               params={"model": cfg.model, "seed": seed})
        res["pretrain"] = {"iterations": 0, "images_seen": 0, "crops_seen": 0, "wall_s": 0.0}
    else:
        init_dir = run_dir / "pretrain"
        pcfg = S.pretrain_config(pre, model=cfg.model, image_root=str(shared["mined"]),
                                 annotations=str(shared["labels"][variant]), output_dir=str(init_dir), seed=seed,
                                 gradual_instances=instances_of(variant, pre),
                                 max_steps_per_epoch=shared["steps_per_epoch"], threads=cfg.threads,
                                 num_workers=cfg.num_workers)
        summary = st.run(f"{variant}: pre-training", init_dir, lambda out: S.pretrain_and_export(out, pcfg, cfg.progress),
                         params=S.result_params(pcfg.to_dict()), resume=True)
        views = pcfg.augment.ncrops
        res["pretrain"] = {"iterations": summary["iterations"],
                           "images_seen": summary["iterations"] * pcfg.batch_size_per_gpu,
                           "crops_seen": summary["iterations"] * pcfg.batch_size_per_gpu * views,
                           "wall_s": st.records[f"{variant}: pre-training"]["wall_s"],
                           "failed_images": summary.get("failed_images", 0),
                           "annotations": str(shared["labels"][variant]),
                           "K": instances_of(variant, pre), "steps_per_epoch": shared["steps_per_epoch"]}
    hub = S.stage_hub(init_dir)
    dataset = Market1501(shared["market"])
    frozen = st.run(f"{variant}: evaluate frozen", run_dir / "frozen",
                    lambda out: S.pick(S.evaluate_init(reidzoo.load(hub), variant, dataset, budget["evaluate"],
                                                       progress=cfg.progress)),
                    params={"init": str(hub), **budget["evaluate"]})
    res["frozen"] = frozen
    fcfg = S.finetune_config(budget["finetune"], model=cfg.model, init=str(hub), dataset="synthetic",
                             root=str(shared["market"]), seed=seed, num_workers=cfg.num_workers)
    st.run(f"{variant}: fine-tuning", run_dir / "finetune", lambda out: S.finetune_and_export(out, fcfg, cfg.progress),
           params=S.result_params(fcfg.to_dict()), resume=True)
    res["finetuned"] = st.run(
        f"{variant}: evaluate fine-tuned", run_dir / "finetuned",
        lambda out: S.pick(S.evaluate_init(reidzoo.load(S.stage_hub(run_dir / "finetune")), f"{variant}+finetune",
                                           dataset, budget["evaluate"], progress=cfg.progress)),
        params={"init": str(run_dir / "finetune"), **budget["evaluate"]})
    iters = finetune_iterations(fcfg, [pid for _, pid, _ in dataset.train])
    res["finetune"] = {"epochs": fcfg.epochs, "iterations": iters, "images_seen": iters * fcfg.p * fcfg.k,
                       "wall_s": st.records[f"{variant}: fine-tuning"]["wall_s"]}
    res["eval_frozen_wall_s"] = st.records[f"{variant}: evaluate frozen"]["wall_s"]
    res["wall_s"] = round(time.time() - t0, 1)
    for k in ("mAP", "rank1"):
        for stage in ("frozen", "finetuned"):
            if not math.isfinite(res[stage][k]):
                raise FloatingPointError(f"{variant} seed {seed}: {stage} {k} is {res[stage][k]}")
    write_json(result_file, res)
    return res


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
    diffs = paired_differences(report["runs"])
    if diffs:
        lines += ["", "Paired differences (the same seed's world and benchmark; mAP points, mean ± std over seeds, "
                  "then the per-seed values):", "",
                  "| comparison | frozen mAP | fine-tuned mAP |", "|---|---|---|"]
        for name, d in diffs.items():
            lines.append(f"| {name} | " + " | ".join(
                f"{d[st]['mean']:+.1f} ± {d[st]['std']:.1f} ({', '.join(f'{v:+.1f}' for v in d[st]['values'])})"
                for st in ("frozen", "finetuned")) + " |")
    stage_s = sum(r["wall_s"] for r in report["runs"]) + sum(
        sum(p.get("timings", {}).values()) for p in report["seeds"].values())
    lines += ["", f"Wall time of this invocation: {report['wall_s']:.0f} s; stage times summed over every run and "
                  f"seed (whenever they ran): {stage_s:.0f} s."]
    return "\n".join(lines) + "\n"


PAIRS = (("cion", "none"), ("instance", "none"), ("tracklet", "none"), ("cion", "tracklet"), ("cion", "instance"))


def paired_differences(runs: List[Dict[str, Any]]) -> Dict[str, Dict[str, Dict[str, Any]]]:
    """Per-seed mAP differences (points) between variants run on the same seed: seed noise cancels in them."""
    by = {(r["variant"], r["seed"]): r for r in runs}
    out = {}
    for a, b in PAIRS:
        seeds = sorted(s for (v, s) in by if v == a and (b, s) in by)
        if not seeds:
            continue
        out[f"{a} − {b}"] = {}
        for st in ("frozen", "finetuned"):
            x = [100 * (by[(a, s)][st]["mAP"] - by[(b, s)][st]["mAP"]) for s in seeds]
            out[f"{a} − {b}"][st] = {"mean": float(np.mean(x)), "std": float(np.std(x, ddof=1)) if len(x) > 1 else 0.0,
                                      "values": x, "seeds": seeds}
    return out


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
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def run_experiment(cfg: ExperimentConfig, on_run: Optional[Callable[[Dict[str, Any]], None]] = None) -> Dict[str, Any]:
    """Every (variant, seed) run, then WORK/results.json, results.md and results.png."""
    budget = load_budget(cfg.budget)
    bad = [v for v in cfg.variants if v not in VARIANTS]
    if bad or not cfg.variants:
        raise ExperimentError(f"unknown variants {bad}; choose from {', '.join(VARIANTS)}")
    if not cfg.seeds:
        raise ExperimentError("give at least one seed")
    import reidzoo
    if cfg.model not in reidzoo.model_names():
        raise ExperimentError(f"unknown model {cfg.model!r}; see `reidzoo zoo list`")
    work = Path(cfg.work)
    work.mkdir(parents=True, exist_ok=True)
    if cfg.denoise_features not in DENOISE_FEATURES:
        raise ExperimentError(f"unknown denoising features {cfg.denoise_features!r}; "
                              f"choose one of {', '.join(DENOISE_FEATURES)}")
    # A work dir belongs to one (budget, model): mixing would average incomparable runs.
    stamp = {"budget": cfg.budget, "model": cfg.model, "denoise_features": cfg.denoise_features,
             "denoise_distance": cfg.denoise_distance, "budget_sizes": budget}
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
        write_json(stamp_file, json.loads(json.dumps(stamp)))
    if cfg.threads:
        import torch
        torch.set_num_threads(cfg.threads)
    t0 = time.time()
    runs, seeds_info = [], {}
    for seed in cfg.seeds:
        _say(f"seed {seed}: world, mining, denoising")
        plan = prepare_seed(seed, cfg, budget)
        seeds_info[str(seed)] = json.loads(json.dumps(
            {k: plan[k] for k in ("steps_per_epoch", "natural_steps_per_epoch", "label_quality", "timings")},
            default=str))
        for variant in cfg.variants:
            _say(f"seed {seed}: {VARIANT_TITLES[variant]}")
            r = run_variant(variant, seed, cfg, budget, plan)
            runs.append(r)
            _say(f"seed {seed} {variant}: frozen mAP {100 * r['frozen']['mAP']:.1f} R1 {100 * r['frozen']['rank1']:.1f}"
                 f" | fine-tuned mAP {100 * r['finetuned']['mAP']:.1f} R1 {100 * r['finetuned']['rank1']:.1f}")
            if on_run:
                on_run(r)
    report = {"config": {**asdict(replace(cfg, progress=False)), "budget_sizes": budget},
              "runs": runs, "aggregate": aggregate(runs, cfg.variants), "paired": paired_differences(runs),
              "seeds": seeds_info,
              "wall_s": round(time.time() - t0, 1)}
    write_json(work / "results.json", report)
    _write_text(work / "results.md", results_markdown(report))
    plot_results(report["aggregate"], work / "results.png")
    _say(f"wrote {work / 'results.json'}, {work / 'results.md'}, {work / 'results.png'}")
    return report
