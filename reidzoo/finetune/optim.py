"""Fine-tuning optimiser: parameter groups (bias, classifier), Adam / SGD, and the learning-rate schedules."""
from __future__ import annotations

import math
from typing import Callable, Dict, List, Sequence

import torch
from timm.scheduler import CosineLRScheduler

from .config import FinetuneConfig

SCHEDULES = ("cosine", "step", "timm_cosine")


def _is_bias(name: str) -> bool:
    # The release's rule (TransReID's make_optimizer): any parameter whose name contains "bias", which
    # also takes in Swin's relative-position bias tables.
    return "bias" in name


def param_groups(model: torch.nn.Module, cfg: FinetuneConfig,
                 head_prefixes: Sequence[str] = ("classifier",)) -> List[Dict]:
    """Trainable parameters grouped by (classifier or not, bias or not), each with its lr factor and decay.

    Bias parameters form their own groups only when the config treats them differently, so a run
    without bias settings keeps the two groups (body, classifier) that older checkpoints hold.
    """
    split_bias = cfg.bias_lr_factor != 1.0 or cfg.weight_decay_bias is not None
    groups: Dict[tuple, Dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        head = name.startswith(tuple(head_prefixes))
        bias = split_bias and _is_bias(name)
        g = groups.setdefault((head, bias), {
            "params": [],
            "lr_factor": (cfg.classifier_lr_factor if head else 1.0) * (cfg.bias_lr_factor if bias else 1.0),
            "weight_decay": cfg.weight_decay_bias if bias else cfg.weight_decay,
        })
        g["params"].append(p)
    # body before head, then plain before bias: a stable order for the optimizer's state dict
    return [groups[k] for k in sorted(groups)]


def build_optimizer(groups: List[Dict], cfg: FinetuneConfig) -> torch.optim.Optimizer:
    """Adam or SGD (momentum, optional Nesterov) over the groups, each starting at lr x its factor."""
    for g in groups:
        g["lr"] = cfg.lr * g["lr_factor"]
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    raise ValueError(f"optimizer must be adam or sgd, got {cfg.optimizer!r}")


def final_lr(cfg: FinetuneConfig) -> float:
    """The learning rate the decay ends at: lr x min_lr_factor when set, else min_lr."""
    return cfg.lr * cfg.min_lr_factor if cfg.min_lr_factor is not None else cfg.min_lr


def lr_at(cfg: FinetuneConfig, epoch: float) -> float:
    """Learning rate at a (fractional) epoch: linear warm-up, then cosine (after delay_epochs) or steps."""
    if epoch < cfg.warmup_epochs:
        return cfg.lr * (cfg.warmup_factor + (1 - cfg.warmup_factor) * epoch / max(cfg.warmup_epochs, 1))
    if cfg.schedule == "step":
        return cfg.lr * 0.1 ** sum(epoch >= s for s in cfg.steps)
    start = max(cfg.warmup_epochs, cfg.delay_epochs)
    if epoch < start:
        return cfg.lr
    t = (epoch - start) / max(cfg.epochs - start, 1)
    low = final_lr(cfg)
    return low + 0.5 * (cfg.lr - low) * (1 + math.cos(math.pi * min(t, 1.0)))


def build_schedule(cfg: FinetuneConfig, opt: torch.optim.Optimizer) -> Callable[[float], None]:
    """A function that sets every group's lr for a (fractional) epoch.

    `timm_cosine` is the release's schedule (TransReID's WARMUP_METHOD 'cosine'): timm's
    CosineLRScheduler stepped once per epoch with t = epoch + 1, warmed up linearly from
    lr x warmup_factor over warmup_epochs, the cosine counted from epoch 0 over all epochs.
    The others are evaluated per iteration by `lr_at`.
    """
    if cfg.schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {cfg.schedule!r}")
    if cfg.schedule == "timm_cosine":
        sched = CosineLRScheduler(opt, t_initial=cfg.epochs, lr_min=final_lr(cfg), cycle_limit=1,
                                  warmup_lr_init=cfg.lr * cfg.warmup_factor, warmup_t=cfg.warmup_epochs,
                                  t_in_epochs=True)

        def set_timm(epoch: float) -> None:
            sched.step(int(epoch) + 1)
        return set_timm

    def set_ours(epoch: float) -> None:
        lr = lr_at(cfg, epoch)
        for g in opt.param_groups:
            g["lr"] = lr * g["lr_factor"]
    return set_ours
