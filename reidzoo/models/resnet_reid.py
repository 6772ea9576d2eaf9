"""ResNet and ResNet-IBN-a for person re-ID, registered with timm (stride 1 in the last stage).

Importing this module registers, with ``timm.models.register_model``:

* ``resnet{18,50,101,152}_reid``: timm's ResNet with the last stage's stride set to 1 (the usual
  re-ID layout: a 256x128 crop gives a 16x8 final map instead of 8x4), average pooled.
* ``resnet{18,50,101,152}_ibn_a``: the same with IBN-a blocks (Pan et al., "Two at Once", 2018):
  in stages 1-3 the first normalisation of every block (``bn1``) is an :class:`~reidzoo.models.ibn.IBN`
  layer (affine InstanceNorm on half of the channels, BatchNorm on the rest).

Both accept ``last_stride`` (1 or 2) and every keyword of ``timm.models.resnet.ResNet``. The module
and parameter names are timm's (= torchvision's), so torchvision-style checkpoints load unchanged.
"""
from __future__ import annotations

from typing import Any, Dict, Sequence

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.models.resnet import BasicBlock, Bottleneck, ResNet
from torch import nn

from .ibn import IBN

_DEPTHS: Dict[int, tuple] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


class ReIDResNet(ResNet):
    """timm ResNet with a configurable last-stage stride and optional IBN-a stages."""

    def __init__(self, *args: Any, last_stride: int = 1, ibn_stages: Sequence[int] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if last_stride not in (1, 2):
            raise ValueError(f"last_stride must be 1 or 2, got {last_stride!r}")
        bad = [s for s in ibn_stages if s not in (1, 2, 3, 4)]
        if bad:
            raise ValueError(f"ibn_stages must be stage numbers 1-4, got {list(ibn_stages)}")
        self.last_stride = last_stride
        self.ibn_stages = tuple(ibn_stages)
        for stage in self.ibn_stages:
            for block in getattr(self, f"layer{stage}"):
                block.bn1 = IBN(block.bn1.num_features)
        if last_stride == 1:
            _remove_stride(self.layer4[0])
            self.feature_info[-1]["reduction"] //= 2


def _remove_stride(block: nn.Module) -> None:
    """Set every stride-2 convolution of a (first) block to stride 1; shapes of weights stay the same.

    timm builds every stage after the first with stride 2 and offers only dilation
    (``output_stride``) as an alternative, which is a different operator, so the re-ID layout
    is obtained by changing the stride of the already built convolutions.
    """
    for module in block.modules():
        if isinstance(module, nn.Conv2d) and module.stride == (2, 2):
            module.stride = (1, 1)


def _cfg(**kwargs: Any) -> Dict[str, Any]:
    return {
        "url": "",
        "num_classes": 0,
        "input_size": (3, 256, 128),
        "pool_size": (16, 8),
        "crop_pct": 1.0,
        "crop_mode": "squash",  # timm then resizes to 256x128 as the zoo does; "center" would crop
        "interpolation": "bicubic",
        "mean": IMAGENET_DEFAULT_MEAN,
        "std": IMAGENET_DEFAULT_STD,
        "first_conv": "conv1",
        "classifier": "fc",
        **kwargs,
    }


default_cfgs = generate_default_cfgs({
    **{f"resnet{d}_reid.cion_reidzoo": _cfg() for d in _DEPTHS},
    **{f"resnet{d}_ibn_a.cion_reidzoo": _cfg() for d in _DEPTHS},
})


def _create(variant: str, depth: int, pretrained: bool, ibn: bool, **kwargs: Any) -> ReIDResNet:
    block, layers = _DEPTHS[depth]
    model_args: Dict[str, Any] = dict(block=block, layers=layers, ibn_stages=(1, 2, 3) if ibn else ())
    model_args.update(kwargs)
    return build_model_with_cfg(ReIDResNet, variant, pretrained, **model_args)


@register_model
def resnet18_reid(pretrained: bool = False, **kwargs: Any) -> ReIDResNet:
    """ResNet-18, last stage stride 1 (re-ID layout)."""
    return _create("resnet18_reid", 18, pretrained, ibn=False, **kwargs)


@register_model
def resnet50_reid(pretrained: bool = False, **kwargs: Any) -> ReIDResNet:
    """ResNet-50, last stage stride 1 (re-ID layout)."""
    return _create("resnet50_reid", 50, pretrained, ibn=False, **kwargs)


@register_model
def resnet101_reid(pretrained: bool = False, **kwargs: Any) -> ReIDResNet:
    """ResNet-101, last stage stride 1 (re-ID layout)."""
    return _create("resnet101_reid", 101, pretrained, ibn=False, **kwargs)


@register_model
def resnet152_reid(pretrained: bool = False, **kwargs: Any) -> ReIDResNet:
    """ResNet-152, last stage stride 1 (re-ID layout)."""
    return _create("resnet152_reid", 152, pretrained, ibn=False, **kwargs)


@register_model
def resnet18_ibn_a(pretrained: bool = False, **kwargs: Any) -> ReIDResNet:
    """ResNet-18-IBN-a (IBN in stages 1-3), last stage stride 1."""
    return _create("resnet18_ibn_a", 18, pretrained, ibn=True, **kwargs)


@register_model
def resnet50_ibn_a(pretrained: bool = False, **kwargs: Any) -> ReIDResNet:
    """ResNet-50-IBN-a (IBN in stages 1-3), last stage stride 1."""
    return _create("resnet50_ibn_a", 50, pretrained, ibn=True, **kwargs)


@register_model
def resnet101_ibn_a(pretrained: bool = False, **kwargs: Any) -> ReIDResNet:
    """ResNet-101-IBN-a (IBN in stages 1-3), last stage stride 1."""
    return _create("resnet101_ibn_a", 101, pretrained, ibn=True, **kwargs)


@register_model
def resnet152_ibn_a(pretrained: bool = False, **kwargs: Any) -> ReIDResNet:
    """ResNet-152-IBN-a (IBN in stages 1-3), last stage stride 1."""
    return _create("resnet152_ibn_a", 152, pretrained, ibn=True, **kwargs)
