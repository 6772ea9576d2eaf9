"""The end-to-end quickstart: synthetic world -> mining -> denoising -> CION pre-training ->
fine-tuning -> evaluation -> a Markdown report. Every stage writes its output under one work
folder, skips itself when that output already exists, and prints its wall time."""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import numpy as np
import yaml


@dataclass
class QuickstartConfig:
    """Sizes chosen so the whole run fits ~15 minutes on 2 CPU cores."""

    seed: int = 0
    # world: the videos' people and the benchmark's people are disjoint (identity offsets)
    n_videos: int = 6
    people_per_video: tuple = (4, 6)
    frames: int = 240
    video_identities: int = 10
    bench_ids_train: int = 40
    bench_ids_test: int = 30
    bench_cameras: int = 4
    bench_images_per_id: int = 8
    # mining
    mining_stride: int = 2
    workers: int = 2
    # denoising: features for the crops (a zoo name / hub folder, or "colourhist")
    denoise_model: str = "colourhist"
    # pre-training (derived from configs/pretrain/cpu_smoke.yaml)
    model: str = "ghostnet_1_0"
    pretrain_config: str = "configs/pretrain/cpu_smoke.yaml"
    pretrain_epochs: int = 3
    pretrain_steps_per_epoch: int = 12
    # fine-tuning
    finetune_epochs: int = 8
    finetune_p: int = 8
    finetune_k: int = 4
    threads: int = 2
    video: Optional[str] = None  # also mine a real video (e.g. vtest.avi) ...
    video_seconds: float = 20.0  # ... its first seconds
    extra: Dict[str, Any] = field(default_factory=dict)


class Stages:
    """Runs named stages in order, timing each and skipping those whose output exists."""

    def __init__(self, work: Path, log: Callable[[str], None] = print):
        self.work, self.log = work, log
        self.times: Dict[str, Optional[float]] = {}

    def run(self, name: str, done: Path, fn: Callable[[], Any]) -> None:
        """Run fn unless `done` exists; record the wall time."""
        n = len(self.times) + 1
        if done.exists():
            self.log(f"[{n}] {name}: already done ({done.relative_to(self.work)}), skipped")
            self.times[name] = None
            return
        self.log(f"\n[{n}] {name} ...")
        t0 = time.time()
        fn()
        self.times[name] = time.time() - t0
        self.log(f"[{n}] {name}: {self.times[name]:.0f} s")


def run_quickstart(work: Path, cfg: QuickstartConfig, root: Path, progress: bool = True,
                   log: Callable[[str], None] = print) -> Path:
    """Run every stage into `work` and write work/report.md; returns the report path."""
    import torch

    import reidzoo
    from reidzoo.data import Market1501
    from reidzoo.data.synthetic import make_market_like, make_videos
    from reidzoo.finetune import FinetuneConfig, evaluate_backbone, finetune

    from .denoise.run import denoise_tracklet_folder, round_configs
    from .mining.mosaic import tracklet_mosaic
    from .mining.pipeline import MiningConfig, mine_videos
    from .pretrain.config import load_config
    from .pretrain.export import export_teacher
    from .pretrain.train import pretrain

    torch.set_num_threads(cfg.threads)
    work.mkdir(parents=True, exist_ok=True)
    (work / "quickstart_config.json").write_text(json.dumps(asdict(cfg), indent=2))
    st = Stages(work, log)
    videos, market = work / "world" / "videos", work / "world" / "market"
    mined, denoised = work / "mined", work / "denoised"
    pre_dir, export_dir, ft_dir = work / "pretrain", work / "pretrain_export", work / "finetune"

    st.run("synthetic world: videos", videos / "identities.json", lambda: make_videos(
        videos, n_videos=cfg.n_videos, people_per_video=cfg.people_per_video, frames=cfg.frames, seed=cfg.seed,
        n_identities=cfg.video_identities, identity_offset=0, progress=progress))
    st.run("synthetic world: Market-format benchmark", market / "query", lambda: make_market_like(
        market, n_ids_train=cfg.bench_ids_train, n_ids_test=cfg.bench_ids_test, cameras=cfg.bench_cameras,
        images_per_id=cfg.bench_images_per_id, seed=cfg.seed, identity_offset=10_000, progress=progress))

    def mine() -> None:
        jobs = [([videos / "videos"], MiningConfig(stride=cfg.mining_stride))]
        if cfg.video:  # a real clip: only its first seconds, HOG costs ~0.15 CPU-s per 768x576 frame
            jobs.append(([Path(cfg.video)], MiningConfig(stride=cfg.mining_stride, end_s=cfg.video_seconds)))
        for inputs, mcfg in jobs:
            summary = mine_videos(inputs, mined, mcfg, workers=cfg.workers, progress=progress)
            if summary.get("failed"):
                raise RuntimeError(f"mining failed for {summary['failed']}")
        tracklet_mosaic(mined, work / "mined_tracklets.png", max_tracklets=8)
        if cfg.video:
            tracklet_mosaic(mined, work / "mined_real_video.png", max_tracklets=8, video=Path(cfg.video).stem)
    st.run("mine tracklets (HOG + ByteTrack)", mined / "tracklets.jsonl", mine)

    st.run("denoise into cross-video identities", denoised / "annotations.json", lambda: denoise_tracklet_folder(
        mined, denoised, [cfg.denoise_model], round_configs(1), random_init=False, progress=progress,
        log=log))

    def pre() -> None:
        pc = load_config(str(root / cfg.pretrain_config), [
            f"model={cfg.model}", f"image_root={mined}", f"annotations={denoised / 'annotations.json'}",
            f"output_dir={pre_dir}", f"epochs={cfg.pretrain_epochs}", f"seed={cfg.seed}",
            f"max_steps_per_epoch={cfg.pretrain_steps_per_epoch}", f"threads={cfg.threads}", "num_workers=1"])
        pretrain(pc, progress=progress)
        export_teacher(pre_dir / "checkpoint.pth", export_dir, overwrite=True)
    st.run(f"CION pre-training of {cfg.model}", export_dir / "config.json", pre)

    ds = Market1501(market)

    def ft() -> None:
        fc = FinetuneConfig(model=cfg.model, init=str(export_dir), dataset="synthetic", root=str(market),
                            epochs=cfg.finetune_epochs, p=cfg.finetune_p, k=cfg.finetune_k, warmup_epochs=1,
                            eval_every=max(cfg.finetune_epochs // 2, 1), num_workers=1, seed=cfg.seed,
                            batch_size_eval=64)
        finetune(fc, ft_dir, overwrite=True, progress=progress)
    st.run("fine-tune on the synthetic benchmark", ft_dir / "curves.png", ft)

    def evaluate_all() -> None:
        results = {}
        fc = FinetuneConfig(model=cfg.model, batch_size_eval=64, num_workers=1)
        torch.manual_seed(cfg.seed)  # the same random weights on every run, cached stages or not
        random_model = reidzoo.load(cfg.model, pretrained=False)
        results["random init"] = evaluate_backbone(random_model, ds, fc, progress=progress)
        results["CION pre-trained (no fine-tuning)"] = evaluate_backbone(reidzoo.load(export_dir), ds, fc,
                                                                        progress=progress)
        best = torch.load(ft_dir / "best.pth", map_location="cpu", weights_only=True)
        tuned = reidzoo.load(cfg.model, pretrained=False)
        tuned.load_state_dict({k[9:]: v for k, v in best["model"].items() if k.startswith("backbone.")})
        results["CION pre-trained + fine-tuned"] = evaluate_backbone(tuned, ds, fc, progress=progress)
        _evaluation_pngs(tuned, ds, work, results["CION pre-trained + fine-tuned"])
        (work / "results.json").write_text(json.dumps(results, indent=2))
    st.run("evaluate", work / "results.json", evaluate_all)

    return write_report(work, cfg, st.times)


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


def write_report(work: Path, cfg: QuickstartConfig, times: Dict[str, Optional[float]]) -> Path:
    """work/report.md: counts and numbers of every stage, with the PNGs."""
    tracks = [json.loads(line) for line in (work / "mined" / "tracklets.jsonl").read_text().splitlines() if line]
    n_tracklets = len({(r["video"], r["tracklet"]) for r in tracks})
    rep = json.loads((work / "denoised" / "denoise_report.json").read_text())
    annos = json.loads((work / "denoised" / "annotations.json").read_text())
    results = json.loads((work / "results.json").read_text())
    log = [json.loads(line) for line in (work / "pretrain" / "log.jsonl").read_text().splitlines() if line]
    pngs = {p.name: p for p in (work / "denoised").glob("*.png")}
    pre_png = next(iter(sorted((work / "pretrain").glob("*.png"))), None)
    lines = [
        "# Quickstart report", "",
        f"Seed {cfg.seed}; backbone `{cfg.model}`; all outputs under `{work}`.", "",
        "| stage | wall time (s) |", "|---|---|",
        *[f"| {k} | {'cached' if v is None else f'{v:.0f}'} |" for k, v in times.items()],
        f"| **total** | **{sum(v or 0.0 for v in times.values()):.0f}** |", "",
        "## Mining", "",
        f"{cfg.n_videos} synthetic videos ({cfg.frames} frames){' + ' + cfg.video if cfg.video else ''}: "
        f"**{n_tracklets} tracklets, {len(tracks)} crops** (`mined/tracklets.jsonl`).", "",
        "![mined tracklets](mined_tracklets.png)", "",
    ]
    if cfg.video:
        lines += [f"Real video `{cfg.video}`:", "", "![real video tracklets](mined_real_video.png)", ""]
    lines += ["## Denoising", "",
              f"{len(annos)} images in {len({a['id'] for a in annos})} identities (`denoised/annotations.json`, "
              f"CION-AL format); thresholds and per-level counts in `denoised/denoise_report.json`.", ""]
    lines += [f"![{n}](denoised/{n})" for n in sorted(pngs)] + [""]
    steps = [r for r in log if "loss" in r]
    out_dim = int(yaml.safe_load((work / "pretrain" / "config.yaml").read_text())["out_dim"])
    lines += ["## CION pre-training", "",
              f"{len(steps)} steps on the denoised set; loss {steps[0]['loss']:.3f} -> {steps[-1]['loss']:.3f} "
              f"(ln of the head size, {np.log(out_dim):.3f}, is the level of uniform outputs)."
              if steps else "no steps logged", ""]
    if pre_png:
        lines += [f"![pre-training loss](pretrain/{pre_png.name})", ""]
    lines += ["## Fine-tuning and evaluation (synthetic Market-format benchmark, test split)", "",
              "| model | mAP | Rank-1 | Rank-5 | mINP |", "|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {_pct(r['mAP'])} | {_pct(r['rank1'])} | {_pct(r['rank5'])} | {_pct(r['mINP'])} |")
    lines += ["", "![fine-tuning curves](finetune/curves.png)", "", "![CMC](cmc.png)", "",
              "![ranked results](ranked.png)", ""]
    path = work / "report.md"
    path.write_text("\n".join(lines))
    return path
