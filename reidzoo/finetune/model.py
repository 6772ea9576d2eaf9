"""The strong-baseline re-ID model: zoo backbone + BNNeck + identity classifier."""
from __future__ import annotations

from typing import Tuple

import torch
from torch import nn


class BNNeckModel(nn.Module):
    """Backbone features -> BatchNorm1d (BNNeck, bias frozen) -> bias-free classifier.

    Training returns (features, logits): the triplet loss uses the features before the neck,
    the identity loss the logits after it. Evaluation returns the backbone features, which is
    exactly what the exported hub folder (the backbone alone) gives.
    """

    def __init__(self, backbone: nn.Module, num_classes: int):
        super().__init__()
        self.backbone = backbone
        # The pooled output width: some timm nets (GhostNet, MobileNets) widen it after pooling.
        dim = getattr(backbone, "head_hidden_size", None) or backbone.num_features
        self.neck = nn.BatchNorm1d(dim)
        self.neck.bias.requires_grad_(False)
        self.classifier = nn.Linear(dim, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)

    def forward(self, x: torch.Tensor):
        feat = self.backbone(x)
        if not self.training:
            return feat
        return feat, self.classifier(self.neck(feat))
