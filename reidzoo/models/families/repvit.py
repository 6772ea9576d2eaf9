"""RepViT zoo entries, the timm variant the release needs, and the release-name mapping.

The original THU-MIG RepViT is one flat ``features`` list: ``features.0`` is the two-conv stem,
then one entry per block. A stride-2 block (recognisable by its ``token_mixer.2`` point-wise
conv) together with the block just before it forms timm's ``stages.i.downsample``
(``pre_block`` + ``spatial_downsample`` + ``channel_downsample`` + ``ffn``); the other blocks
are ``stages.i.blocks.j``. Re-parameterisable branches stay un-fused on both sides, so the
mapping is a pure renaming. timm has no checkpoint filter for RepViT, hence this one.

Why a registered variant (``repvit_m*_reid``) instead of timm's ``repvit_m*``: the release was
trained with the squeeze-excite of the original code (timm's older EfficientNet-style
``SqueezeExcite``: ``conv_reduce``/``conv_expand``, width ``make_divisible(C/4, 4)``, ReLU and a
*hard*-sigmoid gate). timm's RepViT uses ``SEModule`` (``fc1``/``fc2``, width rounded to 8,
sigmoid gate). The widths differ for M0.9/M1.0 (12 vs 16 channels for C=48) and the gate differs
for all three, so no key mapping can fix it: with timm's SE the M1.5 fixture output is off by
500 % of its largest value. Everything else (stem, RepVGG-DW, MLPs, downsampling, pooling)
is timm's unchanged.
"""
import re
from functools import partial
from typing import Dict, Set

import torch.nn as nn
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import make_divisible
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.models._efficientnet_blocks import SqueezeExcite
from timm.models.repvit import RepVit, RepViTBlock

from ..spec import PaperNumbers, StateDict, ZooSpec


def original_squeeze_excite(channels: int) -> SqueezeExcite:
    """The release's SE: mean pool, 1x1 conv to make_divisible(C/4, 4), ReLU, 1x1 conv, hard sigmoid."""
    return SqueezeExcite(channels, rd_ratio=0.25, gate_layer="hard_sigmoid",
                         rd_round_fn=partial(make_divisible, divisor=4))


class RepVitReid(RepVit):
    """timm's RepVit with every block's squeeze-excite replaced by the original release's."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        for block in self.modules():
            if isinstance(block, RepViTBlock) and not isinstance(block.se, nn.Identity):
                block.se = original_squeeze_excite(block.se.fc1.in_channels)


def _cfg(**kwargs):
    return {
        "url": "", "num_classes": 0, "input_size": (3, 256, 128), "pool_size": (8, 4),
        "crop_pct": 1.0, "interpolation": "bicubic", "mean": IMAGENET_DEFAULT_MEAN,
        "std": IMAGENET_DEFAULT_STD, "first_conv": "stem.conv1.c",
        "classifier": ("head.head.l", "head.head_dist.l"), "license": "apache-2.0", **kwargs,
    }


default_cfgs = generate_default_cfgs({
    "repvit_m0_9_reid": _cfg(),
    "repvit_m1_0_reid": _cfg(),
    "repvit_m1_5_reid": _cfg(),
})


def _create_repvit_reid(variant: str, pretrained: bool = False, **kwargs) -> RepVitReid:
    out_indices = kwargs.pop("out_indices", (0, 1, 2, 3))
    return build_model_with_cfg(
        RepVitReid, variant, pretrained,
        feature_cfg=dict(flatten_sequential=True, out_indices=out_indices), **kwargs)


# Widths and depths as timm's repvit_m0_9 / m1_0 / m1_5 (the non-legacy RepViT layout).
@register_model
def repvit_m0_9_reid(pretrained: bool = False, **kwargs) -> RepVitReid:
    """RepViT-M0.9 with the original squeeze-excite (ReIDZoo release layout)."""
    args = dict(embed_dim=(48, 96, 192, 384), depth=(2, 2, 14, 2))
    return _create_repvit_reid("repvit_m0_9_reid", pretrained, **dict(args, **kwargs))


@register_model
def repvit_m1_0_reid(pretrained: bool = False, **kwargs) -> RepVitReid:
    """RepViT-M1.0 with the original squeeze-excite (ReIDZoo release layout)."""
    args = dict(embed_dim=(56, 112, 224, 448), depth=(2, 2, 14, 2))
    return _create_repvit_reid("repvit_m1_0_reid", pretrained, **dict(args, **kwargs))


@register_model
def repvit_m1_5_reid(pretrained: bool = False, **kwargs) -> RepVitReid:
    """RepViT-M1.5 with the original squeeze-excite (ReIDZoo release layout)."""
    args = dict(embed_dim=(64, 128, 256, 512), depth=(4, 4, 24, 4))
    return _create_repvit_reid("repvit_m1_5_reid", pretrained, **dict(args, **kwargs))


_FEATURE = re.compile(r"^features\.(\d+)\.(.*)$")

# Inside a stride-1 block: (RepVGGDW, SqueezeExcite) token mixer and a residual MLP.
_BLOCK_PARTS = (
    ("token_mixer.0.", "token_mixer."),
    ("token_mixer.1.", "se."),
    ("channel_mixer.m.0.", "channel_mixer.conv1."),
    ("channel_mixer.m.2.", "channel_mixer.conv2."),
)
# Inside a stride-2 block: depth-wise conv, (no SE in the zoo variants), point-wise conv, MLP.
_DOWN_PARTS = (
    ("token_mixer.0.", "spatial_downsample."),
    ("token_mixer.2.", "channel_downsample."),
    ("channel_mixer.m.0.", "ffn.conv1."),
    ("channel_mixer.m.2.", "ffn.conv2."),
)
_STEM_PARTS = (("0.", "stem.conv1."), ("2.", "stem.conv2."))


def _rename(rest: str, parts, where: str) -> str:
    for old, new in parts:
        if rest.startswith(old):
            return new + rest[len(old):]
    # Unknown sub-module: keep a name timm will reject, so the strict load reports it.
    return f"{where}.unmapped.{rest}"


def _layout(indices: Set[int], downsample_idx: Set[int]) -> Dict[int, str]:
    """timm module path of every original feature index (1..n); a pre_block opens a stage."""
    where: Dict[int, str] = {}
    stage, block = 0, 0
    for idx in sorted(i for i in indices if i > 0):
        if idx + 1 in downsample_idx:
            stage += 1
            block = 0
            where[idx] = f"stages.{stage}.downsample.pre_block"
        elif idx in downsample_idx:
            where[idx] = f"stages.{stage}.downsample"
        else:
            where[idx] = f"stages.{stage}.blocks.{block}"
            block += 1
    return where


def from_release(state_dict: StateDict, model) -> StateDict:
    """THU-MIG RepViT names (``features.N``) -> timm's RepVit (stem / stages / downsample)."""
    indices: Set[int] = set()
    downsample_idx: Set[int] = set()
    for key in state_dict:
        m = _FEATURE.match(key)
        if m:
            indices.add(int(m.group(1)))
            if m.group(2).startswith("token_mixer.2."):
                downsample_idx.add(int(m.group(1)))
    where = _layout(indices, downsample_idx)
    out: StateDict = {}
    for key, value in state_dict.items():
        m = _FEATURE.match(key)
        if not m:
            out[key] = value  # not RepViT naming: left for the strict check to report
            continue
        idx, rest = int(m.group(1)), m.group(2)
        if idx == 0:
            out[_rename(rest, _STEM_PARTS, "stem")] = value
        elif idx in downsample_idx:
            out[where[idx] + "." + _rename(rest, _DOWN_PARTS, where[idx])] = value
        else:
            out[where[idx] + "." + _rename(rest, _BLOCK_PARTS, where[idx])] = value
    return out


SPECS = [
    ZooSpec("repvit_m0_9", "RepViT", "repvit_m0_9_reid", 384, {}, from_release,
            paper=PaperNumbers(4.72, 0.56, market1501=(92.8, 96.9), msmt17=(68.4, 86.5))),
    ZooSpec("repvit_m1_0", "RepViT", "repvit_m1_0_reid", 448, {}, from_release,
            paper=PaperNumbers(6.40, 0.75, market1501=(93.1, 96.6), msmt17=(69.5, 87.2))),
    ZooSpec("repvit_m1_5", "RepViT", "repvit_m1_5_reid", 512, {}, from_release,
            paper=PaperNumbers(13.62, 1.54, market1501=(92.8, 96.6), msmt17=(69.5, 87.5))),
]
