"""Cluster Contrast: unsupervised (USL) and domain-adaptive (UDA) re-ID training of zoo backbones.

Each epoch: features of the unlabelled train images -> k-reciprocal Jaccard distances -> DBSCAN
pseudo identities (outliers dropped) -> a memory of cluster centroids -> `iters` P x K batches of
InfoNCE against the memory, whose centroids follow the batches with momentum. UDA is the same run
on the target set, started (`init`) from a model fine-tuned with labels on the source set.
The train split's identity labels are never used for training; they only score the pseudo labels
in the log (`ari`, `purity`).
"""
from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..atomic import atomic_torch_save
from ..data import build_dataset
from ..bn import reestimate_bn
from ..config_loader import config_from_dict
from ..devices import check_device_name
from ..features import extract_features, load_images, prefers_channels_last
from ..loading import check_source
from ..models.registry import get_spec
from ..transforms import train_transform
from .cluster_memory import ClusterMemory, centroids
from .config import FinetuneConfig
from .data import CameraPKSampler, PKSampler, TrainSet
from .gem import use_gem
from .pseudo_labels import label_stats, pseudo_labels
from .model import build_backbone
from .train import evaluate_backbone, prepare_run_dir

METRICS = ("mAP", "rank1", "rank5", "mINP")


@dataclass
class ClusterContrastConfig:
    """Every knob of a Cluster Contrast run (defaults: the release's USL / UDA settings, docs/cluster_contrast.md)."""

    model: str = "resnet50"              # zoo name
    init: Optional[str] = None           # hub folder / release .pth; for UDA the source-fine-tuned model
    pretrained: bool = False             # without `init`: True = zoo weights from the Hub, False = random
    dataset: str = "market1501"          # the (target) dataset; its train split is used without labels
    root: Optional[str] = None
    epochs: int = 50
    iters: int = 200                     # optimiser steps per epoch (batches are re-drawn as needed)
    p: int = 32                          # pseudo identities per batch
    k: int = 8                           # images per pseudo identity (num-instances)
    optimizer: str = "adam"              # adam | sgd (momentum 0.9)
    lr: float = 3.5e-4
    weight_decay: float = 5e-4
    step_size: int = 20                  # lr x 0.1 every step_size epochs
    eps: float = 0.6                     # DBSCAN radius on Jaccard distances (0.6 Market-1501, 0.7 MSMT17)
    min_samples: int = 4
    k1: int = 30
    k2: int = 6
    temperature: float = 0.05
    momentum: float = 0.2
    hard: bool = True                    # hardest-instance centroid updates
    pooling: str = "gem"                 # gem (where the backbone allows it) | model (its own pooling)
    neck: bool = True                    # BatchNorm1d after the pooling (train mode: batch statistics)
    sampler: str = "camera"              # camera: K images across cameras per pseudo identity | random
    self_norm: bool = True               # pixel mean = std = 0.5 instead of the model's (release: --self-norm)
    reestimate_bn: bool = False          # BN statistics from the train images first (random-init starts)
    input_size: Tuple[int, int] = (256, 128)
    flip: float = 0.5
    pad: int = 10
    erasing: float = 0.5
    eval_every: int = 10
    batch_size_eval: int = 128
    num_workers: int = 2
    seed: int = 0
    device: str = "cpu"
    extra: Dict[str, Any] = field(default_factory=dict)

    # the same YAML / --set rules as the supervised fine-tuning config
    from_yaml = classmethod(FinetuneConfig.from_yaml.__func__)
    to_dict = FinetuneConfig.to_dict


class ContrastModel(nn.Module):
    """Backbone (GeM where it fits) -> BatchNorm1d with a frozen zero bias (`neck=False`: none): the
    embedding that is trained, clustered and evaluated (L2-normalised by the callers)."""

    def __init__(self, backbone: nn.Module, neck: bool = True):
        super().__init__()
        self.backbone = backbone
        dim = getattr(backbone, "head_hidden_size", None) or backbone.num_features
        self.neck = nn.BatchNorm1d(dim) if neck else nn.Identity()
        if neck:
            self.neck.bias.requires_grad_(False)
        self.pretrained_cfg = backbone.pretrained_cfg
        self.transform = backbone.transform

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.neck(self.backbone(x))


def check_config(cfg: ClusterContrastConfig) -> None:
    """Refuse values that would fail (or mean nothing) only after the first clustering."""
    if cfg.pooling not in ("gem", "model"):
        raise ValueError(f"pooling must be gem or model, got {cfg.pooling!r}")
    if cfg.sampler not in ("camera", "random"):
        raise ValueError(f"sampler must be camera or random, got {cfg.sampler!r}")
    if cfg.optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be adam or sgd, got {cfg.optimizer!r}")
    if not 0.0 < cfg.eps < 1.0:
        raise ValueError(f"eps must be in (0, 1) for Jaccard distances, got {cfg.eps}")
    if not 0.0 <= cfg.momentum < 1.0 or cfg.temperature <= 0:
        raise ValueError(f"momentum must be in [0, 1) and temperature > 0, got {cfg.momentum}, {cfg.temperature}")
    for name in ("epochs", "iters", "p", "k", "k1", "k2", "min_samples", "step_size", "eval_every"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(cfg, name)}")
    check_device_name(cfg.device, allow_auto=False)
    get_spec(cfg.model)  # before the dataset is read
    if cfg.init:
        check_source(cfg.init)


def shared_config(cfg: ClusterContrastConfig) -> FinetuneConfig:
    """The fine-tuner's config for what both trainers do alike: building the backbone (weights, input
    size, mean/std) and evaluating it (cosine on L2-normalised features)."""
    half = (0.5, 0.5, 0.5) if cfg.self_norm else None
    return FinetuneConfig(model=cfg.model, init=cfg.init, pretrained=cfg.pretrained, input_size=cfg.input_size,
                          pixel_mean=half, pixel_std=half, test_normalize=True, batch_size_eval=cfg.batch_size_eval,
                          num_workers=cfg.num_workers, device=cfg.device)


def build_model(cfg: ClusterContrastConfig) -> Tuple[ContrastModel, bool]:
    """The starting model (`init`, Hub or random backbone) with the run's pooling and preprocessing;
    also whether GeM replaced the backbone's pooling."""
    check_config(cfg)
    backbone = build_backbone(shared_config(cfg))
    gem = cfg.pooling == "gem" and use_gem(backbone)
    return ContrastModel(backbone, cfg.neck), gem


def holds_contrast_run(ck: Dict[str, Any]) -> bool:
    """True for the dict of a `reidzoo cluster-contrast` last.pth (its config, model and history)."""
    return ({"config", "model", "history"} <= set(ck) and isinstance(ck["config"], dict)
            and {"eps", "k1", "temperature"} <= set(ck["config"]))


def model_from_checkpoint(ck: Dict[str, Any], source: str = "checkpoint") -> ContrastModel:
    """The eval-mode embedding model of a run's checkpoint dict (its pooling, neck and preprocessing)."""
    cfg = config_from_dict(ClusterContrastConfig, {**ck["config"], "init": None, "pretrained": False}, source)
    model, _ = build_model(cfg)
    model.load_state_dict(ck["model"])
    return model.eval()


def load_checkpoint(path: os.PathLike, device: str = "cpu") -> ContrastModel:
    """The eval-mode embedding model of a run's last.pth (its pooling, neck and preprocessing)."""
    return model_from_checkpoint(torch.load(path, map_location="cpu", weights_only=True), str(path)).to(device)


def _optimizer(cfg: ClusterContrastConfig, model: nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _batches(loader: DataLoader, sampler: PKSampler, epoch: int, iters: int):
    """`iters` batches, drawing new P x K orders (seeded by epoch and pass) when one runs out."""
    n, rnd = 0, 0
    while n < iters:
        sampler.set_epoch(epoch * 1000 + rnd)
        rnd += 1
        for batch in loader:
            yield batch
            n += 1
            if n == iters:
                return


def train_epoch(model: ContrastModel, memory: ClusterMemory, opt: torch.optim.Optimizer, loader: DataLoader,
                sampler: PKSampler, epoch: int, cfg: ClusterContrastConfig, progress: bool = True) -> Dict[str, float]:
    """One epoch of InfoNCE against the cluster memory: mean loss, that of its first and last quarter, images/s."""
    model.train()
    fmt = torch.channels_last if prefers_channels_last(model) else torch.contiguous_format
    t0, losses = time.time(), []
    bar = tqdm(total=cfg.iters, desc=f"cluster contrast {epoch + 1}/{cfg.epochs}", disable=not progress,
               dynamic_ncols=True)
    for it, (x, y) in enumerate(_batches(loader, sampler, epoch, cfg.iters)):
        x, y = x.to(cfg.device).contiguous(memory_format=fmt), y.to(cfg.device)
        f = model(x)
        loss = memory(f, y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch + 1} iter {it}; lower lr ({cfg.lr})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        memory.update(f, y)
        losses.append(loss.item())
        bar.set_postfix(loss=f"{np.mean(losses):.3f}")
        bar.update()
    bar.close()
    q = max(1, len(losses) // 4)
    # the memory is rebuilt every epoch, so the loss is comparable within an epoch, not across epochs
    return {"loss": float(np.mean(losses)), "loss_first": float(np.mean(losses[:q])),
            "loss_last": float(np.mean(losses[-q:])),
            "images_per_s": len(losses) * loader.batch_size / (time.time() - t0)}


def cluster_contrast(cfg: ClusterContrastConfig, run_dir: os.PathLike, resume: bool = False, overwrite: bool = False,
                     progress: bool = True, eval_set: Any = None) -> Dict[str, Any]:
    """Train with Cluster Contrast; writes finetune_config.json, log.jsonl and last.pth in run_dir.

    Epoch 0 of the history is the starting model, evaluated like the later epochs; `last` is the
    last evaluated epoch (no epoch is picked by its test score). `eval_set` (with `.query` and
    `.gallery`) replaces the dataset's query/gallery for evaluation.
    """
    run_dir = Path(run_dir)
    check_config(cfg)
    dataset = build_dataset(cfg.dataset, cfg.root)
    prepare_run_dir(run_dir, cfg, resume, overwrite)
    torch.manual_seed(cfg.seed)
    model, gem = build_model(cfg)
    model = model.to(cfg.device)
    opt = _optimizer(cfg, model)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.step_size, gamma=0.1)
    paths = [p for p, _, _ in dataset.train]
    true_ids = np.array([pid for _, pid, _ in dataset.train])    # diagnostics only
    augment = train_transform(model.backbone, flip=cfg.flip, pad=cfg.pad, erasing=cfg.erasing)
    evaluate_on = eval_set or dataset
    history: List[Dict[str, Any]] = []
    last_path = run_dir / "last.pth"
    if resume and last_path.exists():
        ck = torch.load(last_path, map_location="cpu", weights_only=True)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        torch.set_rng_state(ck["rng"])
        history = ck["history"]
    log = (run_dir / "log.jsonl").open("a")

    def record(rec: Dict[str, Any]) -> None:
        history.append(rec)
        log.write(json.dumps(rec) + "\n")
        log.flush()

    if not history:
        if cfg.reestimate_bn:
            step = cfg.batch_size_eval
            chunks = (load_images(paths[s:s + step], model) for s in range(0, len(paths), step))
            reestimate_bn(model, (x.to(cfg.device) for x in chunks))
        res = evaluate_backbone(model, evaluate_on, shared_config(cfg), progress=progress)
        record({"epoch": 0, "gem": gem, **{k: res[k] for k in METRICS}})
    for epoch in range(history[-1]["epoch"], cfg.epochs):
        t0 = time.time()
        feats = extract_features(model, paths, batch_size=cfg.batch_size_eval, normalize=True,
                                 num_workers=cfg.num_workers, device=cfg.device, progress=progress, desc="train set")
        labels = pseudo_labels(feats, cfg.eps, cfg.min_samples, cfg.k1, cfg.k2)
        rec: Dict[str, Any] = {"epoch": epoch + 1, "lr": opt.param_groups[0]["lr"],
                               **label_stats(labels, true_ids), "cluster_s": time.time() - t0}
        n_clusters = rec["clusters"]
        if n_clusters < 2:
            warnings.warn(f"epoch {epoch + 1}: DBSCAN found {n_clusters} cluster(s) at eps {cfg.eps}; "
                          f"nothing to contrast, the epoch is skipped (try another eps)", RuntimeWarning, stacklevel=2)
        else:
            memory = ClusterMemory(centroids(feats, labels), cfg.temperature, cfg.momentum, cfg.hard).to(cfg.device)
            kept = np.flatnonzero(labels >= 0)
            items = [(paths[i], int(labels[i]), dataset.train[i][2]) for i in kept]
            p = min(cfg.p, n_clusters)
            if cfg.sampler == "camera":
                sampler = CameraPKSampler([it[1] for it in items], [it[2] for it in items], p, cfg.k, seed=cfg.seed)
            else:
                sampler = PKSampler([it[1] for it in items], p, cfg.k, seed=cfg.seed)
            loader = DataLoader(TrainSet(items, augment), batch_size=p * cfg.k, sampler=sampler,
                                num_workers=cfg.num_workers, drop_last=True)
            rec.update(train_epoch(model, memory, opt, loader, sampler, epoch, cfg, progress))
        sched.step()
        if (epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs:
            res = evaluate_backbone(model, evaluate_on, shared_config(cfg), progress=progress)
            rec.update({k: res[k] for k in METRICS})
        rec["epoch_s"] = time.time() - t0
        record(rec)
        atomic_torch_save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                           "history": history, "config": cfg.to_dict(), "rng": torch.get_rng_state()}, last_path)
    log.close()
    evaluated = [h for h in history if "mAP" in h]
    pick = lambda h: {"epoch": h["epoch"], **{k: h[k] for k in METRICS}}  # noqa: E731
    return {"start": pick(evaluated[0]), "last": pick(evaluated[-1]), "history": history, "run_dir": str(run_dir)}
