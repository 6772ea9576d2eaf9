"""MGN (Multiple Granularity Network, Wang et al. 2018) on a zoo ResNet / ResNet-IBN, as fastreid builds it.

A shared trunk (stem, layer1, layer2, the first block of layer3) feeds three branches, each with
its own copy of the rest of layer3 and of layer4 (the part branches' layer4 without
down-sampling). Branch 1 is global; branch 2 adds 2 horizontal stripes, branch 3 adds 3: 8
heads in all, each GeM pooling -> 1x1 conv to 256 -> BatchNorm (bias frozen) -> bias-free
linear classifier. Training: label-smoothed cross-entropy on every head (averaged) and a
batch-hard triplet on the 3 global embeddings and the 2 concatenated stripe embeddings
(averaged), all on the embeddings after their BatchNorm. Test: the 8 embeddings concatenated.
"""
from __future__ import annotations

import copy
from typing import Iterator, List

import torch
import torch.nn.functional as F
from torch import nn

from ..models.resnet_reid import ReIDResNet
from ..transforms import build_transform

EMBEDDING_DIM = 256
STRIPES = (1, 2, 3)  # branch b has a global head and, for b > 1, b stripe heads


class GeM(nn.Module):
    """Generalised-mean pooling with a learnable exponent p (fastreid's GeneralizedMeanPoolingP)."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6):
        super().__init__()
        self.p = nn.Parameter(torch.tensor(p))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(x.clamp(min=self.eps).pow(self.p), 1).pow(1.0 / self.p)


class EmbeddingHead(nn.Module):
    """Feature map -> GeM -> 1x1 conv to `dim` -> BatchNorm (frozen bias) -> (N, dim) embedding."""

    def __init__(self, in_dim: int, dim: int = EMBEDDING_DIM):
        super().__init__()
        self.pool = GeM()
        self.reduce = nn.Conv2d(in_dim, dim, 1, bias=False)
        self.bn = nn.BatchNorm2d(dim)
        self.bn.bias.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.reduce(self.pool(x))).flatten(1)


def _no_downsampling(stage: nn.Sequential) -> nn.Sequential:
    for m in stage.modules():
        if isinstance(m, nn.Conv2d) and m.stride == (2, 2):
            m.stride = (1, 1)
    return stage


class MGNModel(nn.Module):
    """MGN over a zoo ResNet(-IBN): training returns per-head (embeddings, logits), evaluation the 2048-d concat."""

    def __init__(self, backbone: nn.Module, num_classes: int):
        super().__init__()
        if not isinstance(backbone, ReIDResNet):
            raise ValueError(f"MGN needs a ResNet or ResNet-IBN zoo backbone, got {type(backbone).__name__}")
        self.trunk = nn.Sequential(backbone.conv1, backbone.bn1, backbone.act1, backbone.maxpool,
                                   backbone.layer1, backbone.layer2, backbone.layer3[0])
        rest3, layer4 = nn.Sequential(*backbone.layer3[1:]), backbone.layer4
        self.branches = nn.ModuleList()
        for stripes in STRIPES:
            deep = copy.deepcopy(layer4) if stripes == 1 else _no_downsampling(copy.deepcopy(layer4))
            self.branches.append(nn.Sequential(copy.deepcopy(rest3), deep))
        in_dim = backbone.num_features
        self.heads = nn.ModuleList(EmbeddingHead(in_dim) for _ in range(sum(1 + (s > 1) * s for s in STRIPES)))
        self.classifiers = nn.ModuleList(nn.Linear(EMBEDDING_DIM, num_classes, bias=False) for _ in self.heads)
        for c in self.classifiers:
            nn.init.normal_(c.weight, std=0.01)
        self.pretrained_cfg = backbone.pretrained_cfg
        self.transform = getattr(backbone, "transform", None) or build_transform(backbone)
        self.zoo_name = getattr(backbone, "zoo_name", None)
        self.test_feature = "after"  # the concatenated embeddings after their BatchNorm

    def backbone_parameters(self) -> Iterator[nn.Parameter]:
        """The trunk and the three branches: what freeze_iters holds still (fastreid's FREEZE_LAYERS)."""
        yield from self.trunk.parameters()
        yield from self.branches.parameters()

    def embeddings(self, x: torch.Tensor) -> List[torch.Tensor]:
        """The 8 head embeddings in fastreid's order: b1, b2, b3 (global), b21, b22, b31, b32, b33 (stripes)."""
        shared = self.trunk(x)
        maps = [branch(shared) for branch in self.branches]
        parts = [maps[0], maps[1], maps[2], *torch.chunk(maps[1], 2, dim=2), *torch.chunk(maps[2], 3, dim=2)]
        return [head(m) for head, m in zip(self.heads, parts)]

    def forward(self, x: torch.Tensor):
        emb = self.embeddings(x)
        if not self.training:
            return torch.cat(emb, dim=1)
        return emb, [c(e) for c, e in zip(self.classifiers, emb)]

    def training_losses(self, x: torch.Tensor, y: torch.Tensor, id_loss, tri_loss):
        """(ID loss, triplet loss, logits for accuracy, features for the logs) of one batch."""
        emb, logits = self(x)
        li = torch.stack([id_loss(lg, y) for lg in logits]).mean()
        # triplet on the 3 global embeddings and on the concatenated stripes of branch 2 and 3
        tri_feats = [emb[0], emb[1], emb[2], torch.cat(emb[3:5], dim=1), torch.cat(emb[5:8], dim=1)]
        lt = torch.stack([tri_loss(f, y) for f in tri_feats]).mean()
        return li, lt, logits[0], torch.cat(emb, dim=1)
