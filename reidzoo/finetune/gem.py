"""Generalised-mean (GeM) pooling for zoo backbones, put in place of their global average pool."""
from __future__ import annotations

import torch
from timm.layers import SelectAdaptivePool2d
from torch import nn


class GeM(nn.Module):
    """(avg_pool(clamp(x, eps) ** p)) ** (1 / p) with a learnable p (3 at start): wraps the model's own
    average pool, so its layout (NCHW / NHWC) and output shape stay exactly as they were."""

    def __init__(self, avg_pool: nn.Module, p: float = 3.0, eps: float = 1e-6):
        super().__init__()
        self.avg_pool = avg_pool
        self.p = nn.Parameter(torch.tensor(float(p)))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.avg_pool(x.clamp(min=self.eps).pow(self.p)).pow(1.0 / self.p)


def use_gem(backbone: nn.Module, p: float = 3.0) -> bool:
    """Swap the backbone's global average pool for GeM; False (model unchanged) where that does not fit.

    GeM is only defined on non-negative maps. The models whose top-level `global_pool` is timm's
    average pool (ResNet, ResNet-IBN, GhostNet) pool the output of a ReLU; the others pool normalised
    (signed) maps or tokens (ConvNeXt, EdgeNeXt, FastViT, Swin, RepViT, ViT, VOLO) and keep their own.
    """
    pool = getattr(backbone, "global_pool", None)
    if not isinstance(pool, SelectAdaptivePool2d) or pool.pool_type != "avg" or isinstance(pool.pool, GeM):
        return False
    pool.pool = GeM(pool.pool, p)
    return True
