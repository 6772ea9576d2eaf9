"""The cluster memory of Cluster Contrast: one unit centroid per pseudo identity, InfoNCE, momentum updates."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def centroids(features: np.ndarray, labels: np.ndarray) -> torch.Tensor:
    """(C, D) L2-normalised mean feature of each cluster 0..C-1 (rows labelled -1 are ignored)."""
    labels = np.asarray(labels)
    kept = labels >= 0
    n = int(labels[kept].max()) + 1 if kept.any() else 0
    f = torch.as_tensor(np.asarray(features, dtype=np.float32)[kept])
    sums = torch.zeros(n, f.shape[1]).index_add_(0, torch.as_tensor(labels[kept]), f)
    return F.normalize(sums, dim=1)


class ClusterMemory(nn.Module):
    """InfoNCE of each feature against all cluster centroids (temperature `temperature`).

    After each optimiser step, `update` moves a centroid towards the batch:
    `hard=True` (the paper's hard-instance variant) uses, per cluster, the batch member least
    similar to the centroid; `hard=False` every member in turn. centroid <- m * centroid +
    (1 - m) * feature, renormalised (m = `momentum`).
    """

    def __init__(self, init: torch.Tensor, temperature: float = 0.05, momentum: float = 0.2, hard: bool = True):
        super().__init__()
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.register_buffer("features", F.normalize(init.float(), dim=1).clone())
        self.temperature, self.momentum, self.hard = temperature, momentum, hard

    def forward(self, feats: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The InfoNCE loss of a batch of (unnormalised) features against the memory."""
        logits = F.normalize(feats, dim=1) @ self.features.t() / self.temperature
        return F.cross_entropy(logits, labels)

    @torch.no_grad()
    def update(self, feats: torch.Tensor, labels: torch.Tensor) -> None:
        """Momentum update of the centroids of the batch's clusters (call after the optimiser step)."""
        x = F.normalize(feats.detach().float(), dim=1)
        m = self.momentum
        for c in torch.unique(labels).tolist():
            members = x[labels == c]
            if self.hard:
                members = members[(members @ self.features[c]).argmin()][None]
            for f in members:
                self.features[c] = F.normalize(m * self.features[c] + (1.0 - m) * f, dim=0)
