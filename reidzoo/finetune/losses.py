"""Losses of the strong baseline: label-smoothed cross-entropy and batch-hard triplet."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CrossEntropyLabelSmooth(nn.Module):
    """Cross-entropy with label smoothing epsilon (0 gives the plain loss)."""

    def __init__(self, epsilon: float = 0.1):
        super().__init__()
        self.epsilon = epsilon

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, targets, label_smoothing=self.epsilon)


class BatchHardTripletLoss(nn.Module):
    """Triplet loss on the hardest positive and hardest negative of each anchor in the batch.

    `margin=None` gives the soft-margin form log(1 + exp(d_ap - d_an)).
    """

    def __init__(self, margin: float | None = 0.3, normalize: bool = False):
        super().__init__()
        self.margin = margin
        self.normalize = normalize

    def forward(self, feats: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            feats = F.normalize(feats, dim=1)
        dist = torch.cdist(feats, feats).clamp_min(1e-12)
        same = targets[:, None] == targets[None, :]
        d_ap = (dist * same).max(dim=1).values
        d_an = dist.masked_fill(same, float("inf")).min(dim=1).values
        if self.margin is None:
            return F.softplus(d_ap - d_an).mean()
        return F.relu(d_ap - d_an + self.margin).mean()
