"""The end-to-end quickstart: synthetic world -> mining -> denoising -> CION pre-training ->
fine-tuning -> evaluation -> a Markdown report, chained from cion.stages (each stage writes one
folder under the work folder, skips itself when that folder finished, and prints its wall time).
Every size comes from the packaged preset cion/configs/quickstart.yaml."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import yaml


@dataclass
class QuickstartConfig:
    """What to run: the preset (cion/configs/NAME.yaml holds every size), seed, backbone, threads, extra video."""

    seed: int = 0
    preset: str = "quickstart"
    model: Optional[str] = None  # None: the preset's backbone
    threads: int = 2
    workers: int = 2             # mining processes
    num_workers: int = 1         # data loader workers of pre-training and fine-tuning
    video: Optional[str] = None  # also mine a real video (e.g. vtest.avi) ...
    video_seconds: float = 20.0  # ... its first seconds


INIT_TITLES = {"random": "random init", "pretrained": "CION pre-trained (no fine-tuning)",
               "finetuned": "CION pre-trained + fine-tuned"}


def run_quickstart(work: Path, cfg: QuickstartConfig, progress: bool = True,
                   log: Callable[[str], None] = print) -> Path:
    """Run every stage into `work` and write work/report.md and work/results.json; returns the report path."""
    import torch

    import reidzoo
    from reidzoo.data import Market1501

    from . import stages as S

    preset = S.load_preset(cfg.preset)
    model = cfg.model or preset.get("model")
    if not model:
        raise S.StageError(f"preset {cfg.preset!r} names no model; pass --model NAME")
    torch.set_num_threads(cfg.threads)
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    S.write_json(work / "quickstart_config.json", {**asdict(cfg), "model": model, "preset_values": preset})
    st = S.Stages(work, log)
    videos, market = work / "world" / "videos", work / "world" / "market"
    mined, denoised = work / "mined", work / "denoised"
    rand_dir, pre_dir, ft_dir = work / "random_init", work / "pretrain", work / "finetune"
    extra = [(cfg.video, cfg.video_seconds)] if cfg.video else []

    st.run("synthetic world: videos", videos,
           lambda out: S.make_world_videos(out, preset["videos"], cfg.seed, progress),
           params={"seed": cfg.seed, **preset["videos"]})
    st.run("synthetic world: Market-format benchmark", market,
           lambda out: S.make_world_benchmark(out, preset["benchmark"], cfg.seed, progress),
           params={"seed": cfg.seed, **preset["benchmark"]})
    st.run("mine tracklets", mined,
           lambda out: S.mine(out, videos, preset["mining"], extra, workers=cfg.workers, progress=progress),
           params={**preset["mining"], "extra_videos": extra}, resume=True)
    st.run("denoise into cross-video identities", denoised,
           lambda out: S.denoise(out, mined, preset["denoise"], model, cfg.seed, progress, log),
           params={**preset["denoise"], "model": model, "seed": cfg.seed})
    pcfg = S.pretrain_config(preset["pretrain"], model=model, image_root=str(mined),
                             annotations=str(denoised / "annotations.json"), output_dir=str(pre_dir),
                             seed=cfg.seed, threads=cfg.threads, num_workers=cfg.num_workers)
    st.run(f"CION pre-training of {model}", pre_dir, lambda out: S.pretrain_and_export(out, pcfg, progress),
           params=S.result_params(pcfg.to_dict()), resume=True)
    fcfg = S.finetune_config(preset["finetune"], model=model, init=str(S.stage_hub(pre_dir)), dataset="synthetic",
                             root=str(market), seed=cfg.seed, num_workers=cfg.num_workers)
    st.run("fine-tune on the synthetic benchmark", ft_dir, lambda out: S.finetune_and_export(out, fcfg, progress),
           params=S.result_params(fcfg.to_dict()), resume=True)
    # the same random weights on every run, cached stages or not
    st.run("random init", rand_dir, lambda out: S.random_init(out, model, cfg.seed),
           params={"model": model, "seed": cfg.seed})

    ds = Market1501(market)
    inits = {"random": rand_dir, "pretrained": pre_dir, "finetuned": ft_dir}

    def evaluate_all(out: Path) -> Dict[str, Any]:
        results = {}
        for init, folder in inits.items():
            backbone = reidzoo.load(S.stage_hub(folder))
            results[init] = S.evaluate_init(backbone, init, ds, preset["evaluate"], progress=progress)
        _evaluation_pngs(reidzoo.load(S.stage_hub(ft_dir)), ds, out, results["finetuned"])
        return results
    results = st.run("evaluate", work / "evaluation", evaluate_all,
                     # the inits' own parameters too: a re-made fine-tuning is never scored by an old evaluation
                     params={**preset["evaluate"], "inits": {k: {"folder": str(v), "params": S.stage_record(v)["params"]}
                                                             for k, v in inits.items()}})
    return write_report(work, cfg, model, st, results)


def _evaluation_pngs(model, ds, work: Path, res: Dict[str, Any]) -> None:
    """CMC curve and ranked lists (top-10 of a few queries) of the fine-tuned model."""
    from reidzoo.evaluation.plots import plot_cmc, plot_ranked
    from reidzoo.features import extract_features
    plot_cmc(np.asarray(res["cmc"]), str(work / "cmc.png"), title="CMC, synthetic benchmark (fine-tuned)")
    qf = extract_features(model, [p for p, _, _ in ds.query], normalize=True, progress=False, num_workers=0)
    gf = extract_features(model, [p for p, _, _ in ds.gallery], normalize=True, progress=False, num_workers=0)
    queries = list(range(0, len(ds.query), max(len(ds.query) // 6, 1)))[:6]
    lists = [np.argsort(-(gf @ qf[q])) for q in queries]
    plot_ranked(ds.query, ds.gallery, lists, queries, str(work / "ranked.png"), k=10)


def _pct(x: Optional[float]) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def _time_cell(now: Optional[float], when_run: float) -> str:
    return f"{now:.0f}" if now is not None else f"cached ({when_run:.0f} when run)"


def write_report(work: Path, cfg: QuickstartConfig, model: str, st, results: Dict[str, Any]) -> Path:
    """work/results.json (last-epoch numbers of every initialisation, stage times) and work/report.md."""
    from cion.mining.mosaic import tracklet_mosaic

    from .stages import METRIC_KEYS, write_json
    times = st.times
    mined = work / "mined"
    tracks = [json.loads(line) for line in (mined / "tracklets.jsonl").read_text().splitlines() if line]
    n_tracklets = len({(r["video"], r["tracklet"]) for r in tracks})
    if not (work / "mined_tracklets.png").exists():
        tracklet_mosaic(mined, work / "mined_tracklets.png", max_tracklets=8)
    if cfg.video and not (work / "mined_real_video.png").exists():
        tracklet_mosaic(mined, work / "mined_real_video.png", max_tracklets=8, video=Path(cfg.video).stem)
    annos = json.loads((work / "denoised" / "annotations.json").read_text())
    log = [json.loads(line) for line in (work / "pretrain" / "log.jsonl").read_text().splitlines() if line]
    pngs = {p.name: p for p in (work / "denoised").glob("*.png")}
    pre_png = next(iter(sorted((work / "pretrain").glob("*.png"))), None)
    steps = [r for r in log if "loss" in r]
    out_dim = int(yaml.safe_load((work / "pretrain" / "config.yaml").read_text())["out_dim"])
    table = {k: {m: r[m] for m in METRIC_KEYS} for k, r in results.items()}
    checks = verdict(table)
    evaluation = {k: v for k, v in preset_used(work)["evaluate"].items() if k in ("bn", "input_size")}
    write_json(work / "results.json", {
        "seed": cfg.seed, "model": model, "preset": cfg.preset, "epoch_reported": "last",
        "evaluation": {"bn": "as_is", **evaluation},
        "results": table, "checks": checks,
        "pretrain": pretrain_summary(steps, out_dim),
        "stage_wall_s": {k: v["wall_s"] for k, v in st.records.items()}})
    lines = [
        "# Quickstart report", "",
        f"Seed {cfg.seed}; backbone `{model}`; preset `{cfg.preset}`; all outputs under `{work}`.", "",
        "| stage | wall time (s) |", "|---|---|",
        *[f"| {k} | {_time_cell(v, st.records[k]['wall_s'])} |" for k, v in times.items()],
        f"| **total** | **{sum(v or 0.0 for v in times.values()):.0f}** |", "",
        "## Mining", "",
        f"{len(list((work / 'world' / 'videos' / 'videos').glob('*')))} synthetic videos"
        f"{' + ' + cfg.video if cfg.video else ''}: "
        f"**{n_tracklets} tracklets, {len(tracks)} crops** (`mined/tracklets.jsonl`).", "",
        "![mined tracklets](mined_tracklets.png)", "",
    ]
    if cfg.video:
        lines += [f"Real video `{cfg.video}`:", "", "![real video tracklets](mined_real_video.png)", ""]
    lines += ["## Denoising", "",
              f"{len(annos)} images in {len({a['id'] for a in annos})} identities (`denoised/annotations.json`, "
              f"CION-AL format); thresholds and per-level counts in `denoised/denoise_report.json`.", ""]
    lines += [f"![{n}](denoised/{n})" for n in sorted(pngs)] + [""]
    summary = pretrain_summary(steps, out_dim)
    lines += ["## CION pre-training", "",
              f"{len(steps)} steps on the denoised set; loss {summary['loss_first']:.3f} -> "
              f"{summary['loss_last']:.3f}, teacher entropy {summary['teacher_entropy_ratio_last']:.2f} x ln D "
              f"(ln of the head size D, {summary['ln_out_dim']:.3f}, is the level of uniform outputs: a run "
              f"that learns ends clearly below it)." if steps else "no steps logged", ""]
    if pre_png:
        lines += [f"![pre-training loss and collapse diagnostics](pretrain/{pre_png.name})", ""]
    size = evaluation.get("input_size")
    lines += ["## Evaluation (synthetic Market-format benchmark, test split)", "",
              "Every initialisation is evaluated alike: "
              + ("BatchNorm statistics re-estimated on the benchmark's train images (the BN rule of "
                 "docs/pretrain.md), " if evaluation.get("bn") == "train" else "BatchNorm statistics as trained, ")
              + (f"inputs {size[0]}x{size[1]}. " if size else "the model's input size. ")
              + "Fine-tuned numbers are the last epoch's (no epoch is picked on the test split).", "",
              "| model | mAP | Rank-1 | Rank-5 | mINP |", "|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {INIT_TITLES.get(name, name)} | {_pct(r['mAP'])} | {_pct(r['rank1'])} | "
                     f"{_pct(r['rank5'])} | {_pct(r['mINP'])} |")
    lines += ["", *[f"- {c['text']}: **{'yes' if c['holds'] else 'no'}**" for c in checks.values()],
              "", "![fine-tuning curves](finetune/curves.png)", "", "![CMC](evaluation/cmc.png)", "",
              "![ranked results](evaluation/ranked.png)", ""]
    path = work / "report.md"
    path.write_text("\n".join(lines))
    return path


def preset_used(work: Path) -> Dict[str, Any]:
    """The preset values a quickstart work folder ran with (quickstart_config.json)."""
    return json.loads((Path(work) / "quickstart_config.json").read_text())["preset_values"]


def pretrain_summary(steps: List[Dict[str, Any]], out_dim: int) -> Dict[str, Any]:
    """First / last loss and the last teacher entropy ratio of a pre-training log, beside ln(out_dim)."""
    last = steps[-1] if steps else {}
    return {"steps": len(steps), "ln_out_dim": float(np.log(out_dim)),
            "loss_first": steps[0]["loss"] if steps else None, "loss_last": last.get("loss"),
            "teacher_entropy_ratio_last": last.get("teacher_entropy_ratio")}


def verdict(table: Dict[str, Dict[str, float]]) -> Dict[str, Dict[str, Any]]:
    """What the quickstart claims for CION, checked on its own numbers (reported whichever way they come out)."""
    r, p, f = (table[k]["mAP"] for k in ("random", "pretrained", "finetuned"))
    return {"pretrained_beats_random": {"holds": bool(p > r),
                                        "text": f"CION pre-trained frozen mAP {100 * p:.1f} > random init {100 * r:.1f}"},
            "finetuned_doubles_random": {"holds": bool(f >= 2 * r),
                                         "text": f"fine-tuned mAP {100 * f:.1f} >= 2 x random init ({200 * r:.1f})"}}
