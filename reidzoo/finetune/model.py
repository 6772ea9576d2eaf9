"""The strong-baseline re-ID model (zoo backbone + BNNeck + identity classifier) and how its backbone is built."""
from __future__ import annotations

import warnings
from typing import Any, Dict

import torch
from torch import nn

from ..loading import load, set_input_size
from ..models.registry import get_spec
from ..transforms import build_transform
from .config import FinetuneConfig

# Families whose original implementations have stochastic depth, so the release's DROP_PATH reaches
# them; ResNet(-IBN), GhostNet and RepViT have no such layer in their original code.
STOCHASTIC_DEPTH_FAMILIES = frozenset({"EdgeNeXt", "FastViT", "ConvNeXt", "VOLO", "ViT", "Swin"})
RESNET_FAMILIES = frozenset({"ResNet", "ResNet-IBN"})
ZOO_VIT_STRIDE = (16, 16)


def architecture_overrides(cfg: FinetuneConfig) -> Dict[str, Any]:
    """Constructor keywords the config asks of the zoo model (drop path, last stride); checks the ViT ones."""
    family = get_spec(cfg.model).family
    kw: Dict[str, Any] = {}
    if cfg.drop_path and family in STOCHASTIC_DEPTH_FAMILIES:
        kw["drop_path_rate"] = cfg.drop_path
    if cfg.last_stride is not None and family in RESNET_FAMILIES:
        kw["last_stride"] = cfg.last_stride
    if family == "ViT":
        if cfg.stride_size is not None and tuple(cfg.stride_size) != ZOO_VIT_STRIDE:
            raise ValueError(f"stride_size {list(cfg.stride_size)}: the zoo ViTs patchify with stride 16x16 "
                             f"(conv stem + 8x8 projection); overlapping patches are not supported")
        if cfg.stem_conv is False:
            warnings.warn(f"{cfg.model}: the config says stem_conv false, but the zoo's {cfg.model} weights "
                          f"include the conv stem, which is kept (docs/finetune.md)", UserWarning, stacklevel=2)
    return kw


def apply_preprocessing(backbone: nn.Module, cfg: FinetuneConfig) -> nn.Module:
    """Set the config's input size and mean/std into the backbone's pretrained_cfg (kept by its export)."""
    pcfg = dict(backbone.pretrained_cfg)
    if cfg.input_size is not None:
        if pcfg.get("fixed_input_size") and list(pcfg["input_size"][1:]) != list(cfg.input_size):
            raise ValueError(f"{cfg.model} takes only {pcfg['input_size'][1]}x{pcfg['input_size'][2]} inputs; "
                             f"input_size {list(cfg.input_size)} is not supported for it")
        pcfg = set_input_size(backbone, cfg.input_size).pretrained_cfg
    if cfg.pixel_mean is not None:
        pcfg["mean"] = list(cfg.pixel_mean)
    if cfg.pixel_std is not None:
        pcfg["std"] = list(cfg.pixel_std)
    backbone.pretrained_cfg = pcfg
    backbone.transform = build_transform(backbone)
    return backbone


def build_backbone(cfg: FinetuneConfig) -> nn.Module:
    """The starting backbone: a hub folder / release / export (`init`), zoo weights, or random."""
    kw = architecture_overrides(cfg)
    backbone = load(cfg.model, weights=cfg.init, **kw) if cfg.init else load(cfg.model, pretrained=cfg.pretrained, **kw)
    return apply_preprocessing(backbone, cfg)


class BNNeckModel(nn.Module):
    """Backbone features -> BatchNorm1d (BNNeck, bias frozen) -> bias-free classifier.

    Training returns (features, logits): the triplet loss uses the features before the neck,
    the identity loss the logits after it. Evaluation returns the backbone features
    (`test_feature="before"`, exactly what the exported hub folder gives) or the neck's output
    (`"after"`).
    """

    def __init__(self, backbone: nn.Module, num_classes: int, test_feature: str = "before"):
        super().__init__()
        if test_feature not in ("before", "after"):
            raise ValueError(f"test_feature must be before or after, got {test_feature!r}")
        self.backbone = backbone
        self.test_feature = test_feature
        # The pooled output width: some timm nets (GhostNet, MobileNets) widen it after pooling.
        dim = getattr(backbone, "head_hidden_size", None) or backbone.num_features
        self.neck = nn.BatchNorm1d(dim)
        self.neck.bias.requires_grad_(False)
        self.classifier = nn.Linear(dim, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)
        # extract_features preprocesses images the backbone's way
        self.pretrained_cfg = backbone.pretrained_cfg
        self.transform = getattr(backbone, "transform", None) or build_transform(backbone)

    def backbone_parameters(self):
        """The pre-trained part (what freeze_iters holds still)."""
        return self.backbone.parameters()

    def forward(self, x: torch.Tensor):
        feat = self.backbone(x)
        if not self.training:
            return self.neck(feat) if self.test_feature == "after" else feat
        return feat, self.classifier(self.neck(feat))

    def training_losses(self, x: torch.Tensor, y: torch.Tensor, id_loss, tri_loss):
        """(ID loss, triplet loss, logits for accuracy, features for the logs) of one batch."""
        feat, logits = self(x)
        return id_loss(logits, y), tri_loss(feat, y), logits, feat


def build_model(cfg: FinetuneConfig, backbone: nn.Module, num_classes: int) -> nn.Module:
    """The trained model around the backbone: the BNNeck baseline or MGN (`method`)."""
    if cfg.method == "mgn":
        from .mgn import MGNModel
        if get_spec(cfg.model).family not in RESNET_FAMILIES:
            raise ValueError(f"method mgn needs a ResNet or ResNet-IBN zoo model, not {cfg.model}")
        return MGNModel(backbone, num_classes)
    return BNNeckModel(backbone, num_classes, cfg.test_feature)
