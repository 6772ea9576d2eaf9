"""Collapse diagnostics of DINO-style training: teacher entropy, feature similarity, and a once-only warning.

Two failure modes look alike in the loss curve but need different fixes:
uniform collapse (every teacher output is flat, entropy = ln D, the loss sits at ln D) and
representation collapse (every image gets the same features or the same one-hot target).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Dict, Optional

import torch
import torch.nn.functional as F

log = logging.getLogger("cion.pretrain")


def mean_entropy(probs: torch.Tensor) -> float:
    """Mean Shannon entropy (nats) of the rows of a (N, D) probability matrix."""
    p = probs.float()
    return float(-(p * torch.log(p.clamp_min(1e-30))).sum(-1).mean())


def mean_pairwise_cosine(features: torch.Tensor) -> float:
    """Mean cosine similarity over all pairs of distinct rows of (N, C) features (1.0 for N < 2)."""
    n = features.shape[0]
    if n < 2:
        return 1.0
    f = F.normalize(features.float().flatten(1), dim=1)
    s = f.sum(0)
    # sum over i != j of f_i.f_j = |sum f|^2 - sum |f_i|^2, without the N x N matrix
    return float((s @ s - (f * f).sum()) / (n * (n - 1)))


def top_share(probs: torch.Tensor) -> float:
    """Share of rows whose argmax is the batch's most common argmax (1.0: every image has the same target)."""
    top = probs.argmax(-1)
    return float(torch.bincount(top).max()) / max(int(top.numel()), 1)


def step_diagnostics(loss: float, teacher_probs: torch.Tensor, features: torch.Tensor,
                     center: Optional[torch.Tensor]) -> Dict[str, float]:
    """The per-step numbers logged beside the loss (see docs/pretrain.md, 'Collapse diagnostics')."""
    d = teacher_probs.shape[-1]
    h = mean_entropy(teacher_probs)
    return {"teacher_entropy": h, "teacher_entropy_ratio": h / math.log(d), "kl": loss - h,
            "feature_cosine": mean_pairwise_cosine(features), "teacher_top_share": top_share(teacher_probs),
            "center_norm": float(center.norm()) if center is not None else 0.0}


@dataclass
class CollapseMonitor:
    """Warns once per kind when a run has sat at uniform or representation collapse for `patience` steps."""

    patience: int = 50
    uniform_ratio: float = 0.95        # teacher entropy / ln D above this: targets are (nearly) uniform
    cosine: float = 0.95               # features of different images this similar: one representation
    same_target_share: float = 0.9     # most of the batch has the same top target dimension
    runs: Dict[str, int] = field(default_factory=lambda: {"uniform": 0, "representation": 0})
    warned: Dict[str, int] = field(default_factory=dict)

    def update(self, diag: Dict[str, float], it: int) -> Optional[str]:
        """Feed one step's diagnostics; returns the warning text the first time a collapse persists."""
        uniform = diag["teacher_entropy_ratio"] > self.uniform_ratio
        rep = diag["feature_cosine"] > self.cosine or diag["teacher_top_share"] > self.same_target_share
        message = None
        for kind, on in (("uniform", uniform), ("representation", rep)):
            self.runs[kind] = self.runs[kind] + 1 if on else 0
            if self.runs[kind] >= self.patience and kind not in self.warned:
                self.warned[kind] = it
                message = _ADVICE[kind].format(n=self.patience, it=it, **diag)
                log.warning(message)
        return message


_ADVICE = {
    "uniform": ("uniform collapse: for {n} steps (to iteration {it}) the teacher's targets have been nearly flat "
                "(entropy {teacher_entropy_ratio:.3f} x ln D), so the loss can only sit at ln D. Try "
                "centering=sinkhorn, a smaller out_dim (256-1024), a lower teacher_temp (0.02-0.04), a larger "
                "absolute learning rate, or more steps; see docs/pretrain.md"),
    "representation": ("representation collapse: for {n} steps (to iteration {it}) the images of a batch have "
                       "looked alike (feature cosine {feature_cosine:.3f}, top target shared by "
                       "{teacher_top_share:.0%} of the batch). Try a higher center_momentum or centering=sinkhorn, "
                       "a higher teacher_temp, a lower learning rate, or stronger augmentation; see docs/pretrain.md"),
}
