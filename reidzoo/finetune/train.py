"""The fine-tuning loop: P x K batches, ID + triplet losses, warm-up + cosine/step, eval, checkpoints."""
from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..atomic import atomic_torch_save
from ..features import extract_features, prefers_channels_last
from ..loading import check_source
from ..models.registry import get_spec
from ..models.release import torch_load_safely
from ..rundir import RunDirError
from .config import FinetuneConfig
from ..data import build_dataset
from ..data.base import relabel
from ..transforms import train_transform
from .data import PKSampler, TrainSet
from .fewshot import few_shot_identities
from .losses import BatchHardTripletLoss, CrossEntropyLabelSmooth
from .model import build_backbone, build_model
from .optim import build_optimizer, build_schedule, param_groups

CONFIG_FILE = "finetune_config.json"


def prepare_run_dir(run_dir: Path, cfg: FinetuneConfig, resume: bool, overwrite: bool) -> None:
    """Create the run dir; refuse one holding a different run unless resume/overwrite says so."""
    cfg_file = run_dir / CONFIG_FILE
    if run_dir.exists() and any(run_dir.iterdir()):
        if overwrite:
            shutil.rmtree(run_dir)
        elif resume:
            if cfg_file.exists():
                old = json.loads(cfg_file.read_text())
                if old != cfg.to_dict():
                    diff = sorted(k for k in set(old) | set(cfg.to_dict()) if old.get(k) != cfg.to_dict().get(k))
                    raise RunDirError(f"{run_dir} holds a run with a different config (differs in {diff}); "
                                      f"use another --out or --overwrite")
        else:
            raise RunDirError(f"{run_dir} already holds a run; pass --resume to continue it or --overwrite "
                              f"to replace it")
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg_file.write_text(json.dumps(cfg.to_dict(), indent=2))


def evaluate_backbone(backbone: torch.nn.Module, dataset, cfg: FinetuneConfig, progress: bool = True) -> Dict[str, Any]:
    """mAP/CMC/mINP of a model's features on the dataset's query/gallery (cosine when test_normalize)."""
    from ..evaluation import evaluate
    q, g = dataset.query, dataset.gallery
    kw = dict(batch_size=cfg.batch_size_eval, normalize=cfg.test_normalize, num_workers=cfg.num_workers,
              progress=progress)
    qf = extract_features(backbone, [p for p, _, _ in q], desc="query", **kw)
    gf = extract_features(backbone, [p for p, _, _ in g], desc="gallery", **kw)
    if np.ptp(np.concatenate([qf, gf]), axis=0).max() == 0:
        # every score ties; the ranking engines break ties in favour of true matches (mAP 1.0)
        warnings.warn("all query and gallery features are identical (a dead backbone): the ranking is all "
                      "ties and the metrics below mean nothing", RuntimeWarning, stacklevel=2)
    res = evaluate(qf, gf, np.array([x[1] for x in q]), np.array([x[1] for x in g]),
                   np.array([x[2] for x in q]), np.array([x[2] for x in g]))
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in res.items()}


def _rng_state() -> Dict[str, torch.Tensor]:
    return {"torch": torch.get_rng_state()}


def finetune(cfg: FinetuneConfig, run_dir: os.PathLike, resume: bool = False, overwrite: bool = False,
             progress: bool = True, stop_after_epochs: Optional[int] = None) -> Dict[str, Any]:
    """Fine-tune a zoo backbone; writes last.pth, log.jsonl, curves.png in run_dir.

    Returns the history and `last`, the metrics of the last evaluated epoch: no checkpoint is
    picked by its test mAP, which would report a number chosen on the test split.
    `stop_after_epochs` ends this call early (e.g. to fit a job's time limit); `resume=True`
    continues the same schedule later.
    """
    run_dir = Path(run_dir)
    if resume and overwrite:
        raise ValueError("--resume continues the run in --out and --overwrite replaces it: pass one of them")
    get_spec(cfg.model)
    if cfg.init:
        check_source(cfg.init)
    dataset = build_dataset(cfg.dataset, cfg.root)  # a missing root fails here, before anything is written
    prepare_run_dir(run_dir, cfg, resume, overwrite)
    torch.manual_seed(cfg.seed)
    train_items = relabel(few_shot_identities(dataset.train, cfg.train_fraction, cfg.train_ids, cfg.seed))
    num_classes = len({pid for _, pid, _ in train_items})
    backbone = build_backbone(cfg)
    model = build_model(cfg, backbone, num_classes).to(cfg.device)
    # NHWC makes (depthwise) convolution backward several times faster on CPU.
    memory_format = torch.channels_last if prefers_channels_last(backbone) else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    opt = build_optimizer(param_groups(model, cfg), cfg)
    id_loss = CrossEntropyLabelSmooth(cfg.label_smoothing)
    tri_loss = BatchHardTripletLoss(cfg.triplet_margin, normalize=cfg.triplet_normalize)
    sampler = PKSampler([x[1] for x in train_items], cfg.p, cfg.k, seed=cfg.seed)
    augment = train_transform(backbone, flip=cfg.flip, pad=cfg.pad, erasing=cfg.erasing, erasing_fill=cfg.erasing_fill)
    loader = DataLoader(TrainSet(train_items, augment),
                        batch_size=cfg.p * cfg.k, sampler=sampler, num_workers=cfg.num_workers, drop_last=True,
                        persistent_workers=False)
    start_epoch, history = 0, []
    last_path = run_dir / "last.pth"
    if resume and last_path.exists():
        ck = torch_load_safely(last_path, safe_globals=())
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        torch.set_rng_state(ck["rng"]["torch"])
        start_epoch, history = ck["epoch"] + 1, ck["history"]
    log = (run_dir / "log.jsonl").open("a")
    iters = len(loader) if cfg.max_iters_per_epoch is None else min(len(loader), cfg.max_iters_per_epoch)
    if iters == 0:
        raise ValueError(f"no full P x K batch: lower p ({cfg.p}) or k ({cfg.k}) for {len(train_items)} train images")
    set_lr = build_schedule(cfg, opt)
    frozen = list(model.backbone_parameters())
    warned_dead = False
    end_epoch = cfg.epochs if stop_after_epochs is None else min(cfg.epochs, start_epoch + stop_after_epochs)
    for epoch in range(start_epoch, end_epoch):
        model.train()
        sampler.set_epoch(epoch)
        t0, seen, n_it = time.time(), 0, 0
        sums = {"loss": 0.0, "id": 0.0, "tri": 0.0, "acc": 0.0, "feat_norm": 0.0, "dead": 0.0}
        bar = tqdm(total=iters, desc=f"finetune {epoch + 1}/{cfg.epochs}", disable=not progress, dynamic_ncols=True)
        for it, (x, y) in enumerate(loader):
            if it >= iters:
                break
            set_lr(epoch + it / iters)
            x, y = x.to(cfg.device).contiguous(memory_format=memory_format), y.to(cfg.device)
            li, lt, logits, feat = model.training_losses(x, y, id_loss, tri_loss)
            loss = cfg.id_weight * li + cfg.triplet_weight * lt
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch + 1} iter {it}; "
                                         f"lower lr ({cfg.lr}); last good checkpoint: {last_path}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if epoch * iters + it < cfg.freeze_iters:
                for p in frozen:  # a parameter without a gradient is left alone by Adam and SGD alike
                    p.grad = None
            opt.step()
            seen, n_it = seen + len(x), n_it + 1
            with torch.no_grad():
                # feature scale and the share of feature channels that are zero for the whole batch:
                # a backbone whose last ReLU died gives dead = 1 and can never recover
                stats = (("loss", loss), ("id", li), ("tri", lt), ("acc", (logits.argmax(1) == y).float().mean()),
                         ("feat_norm", feat.norm(dim=1).mean()), ("dead", (feat == 0).all(0).float().mean()))
            for k_, v in stats:
                sums[k_] += float(v.detach())
            bar.set_postfix(loss=f"{sums['loss'] / n_it:.3f}", img_s=f"{seen / (time.time() - t0):.1f}")
            bar.update()
        bar.close()
        rec = {"epoch": epoch + 1, "lr": opt.param_groups[0]["lr"], "images_per_s": seen / (time.time() - t0),
               **{k_: v / max(n_it, 1) for k_, v in sums.items()}}
        if rec["dead"] == 1.0 and not warned_dead:
            warned_dead = True
            warnings.warn(f"epoch {epoch + 1}: every feature channel was zero for every training image (the "
                          f"backbone's last ReLU died); no loss can move it any more. Use triplet_normalize: true "
                          f"or a lower lr ({cfg.lr}).", RuntimeWarning, stacklevel=2)
        if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs:
            model.eval()
            res = evaluate_backbone(model, dataset, cfg, progress=progress)
            rec.update({k_: res[k_] for k_ in ("mAP", "rank1", "rank5", "mINP")})
        history.append(rec)
        log.write(json.dumps(rec) + "\n")
        log.flush()
        atomic_torch_save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch,
                     "history": history, "config": cfg.to_dict(), "rng": _rng_state()}, last_path)
    log.close()
    plot_curves(history, run_dir / "curves.png")
    evaluated = [h for h in history if "mAP" in h]
    last = {"epoch": evaluated[-1]["epoch"], **{k_: evaluated[-1][k_] for k_ in ("mAP", "rank1", "rank5", "mINP")}} \
        if evaluated else {"epoch": -1}
    return {"last": last, "history": history, "run_dir": str(run_dir)}


def plot_curves(history: List[Dict[str, Any]], path: Path) -> None:
    """Loss and mAP per epoch as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    if not history:
        return
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.2))
    ep = [h["epoch"] for h in history]
    ax[0].plot(ep, [h["loss"] for h in history], label="total")
    ax[0].plot(ep, [h["id"] for h in history], label="identity")
    ax[0].plot(ep, [h["tri"] for h in history], label="triplet")
    ax[0].set_xlabel("epoch"), ax[0].set_title("training loss"), ax[0].legend()
    ev = [h for h in history if "mAP" in h]
    ax[1].plot([h["epoch"] for h in ev], [100 * h["mAP"] for h in ev], "o-", label="mAP")
    ax[1].plot([h["epoch"] for h in ev], [100 * h["rank1"] for h in ev], "s-", label="Rank-1")
    ax[1].set_xlabel("epoch"), ax[1].set_title("evaluation (%)"), ax[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
