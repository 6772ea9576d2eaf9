"""Optimisers for pre-training: AdamW, SGD and LARS, with DINO's two parameter groups."""
from __future__ import annotations

from typing import Iterable, List

import torch
from torch import nn


def param_groups(model: nn.Module) -> List[dict]:
    """Weights get weight decay; biases and norm parameters (1-D) do not. Group 0 is the decayed one."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    return [{"params": decay}, {"params": no_decay, "weight_decay": 0.0}]


class LARS(torch.optim.Optimizer):
    """SGD with momentum and layer-wise trust ratio; 1-D parameters are neither decayed nor adapted."""

    def __init__(self, params: Iterable, lr: float = 0.0, weight_decay: float = 0.0, momentum: float = 0.9,
                 eta: float = 0.001):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum, eta=eta))

    @torch.no_grad()
    def step(self, closure=None):
        """One LARS update."""
        for g in self.param_groups:
            for p in g["params"]:
                if p.grad is None:
                    continue
                dp = p.grad
                if p.ndim > 1:
                    dp = dp.add(p, alpha=g["weight_decay"])
                    p_norm, d_norm = torch.norm(p), torch.norm(dp)
                    q = torch.where((p_norm > 0) & (d_norm > 0), g["eta"] * p_norm / d_norm,
                                    torch.ones_like(p_norm))
                    dp = dp.mul(q)
                state = self.state[p]
                if "mu" not in state:
                    state["mu"] = torch.zeros_like(p)
                mu = state["mu"].mul_(g["momentum"]).add_(dp)
                p.add_(mu, alpha=-g["lr"])


def build_optimizer(name: str, groups: List[dict]) -> torch.optim.Optimizer:
    """adamw | sgd | lars; lr and weight decay are set by the schedules every step."""
    name = name.lower()
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=0.0)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=0.0, momentum=0.9)
    if name == "lars":
        return LARS(groups)
    raise ValueError(f"unknown optimizer {name!r}; choose adamw, sgd or lars")
