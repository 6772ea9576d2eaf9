"""ViT with an IBN convolutional stem for 256x128 person crops, registered with timm.

The ReIDZoo ViTs follow TransReID-SSL (Luo et al., 2021): the usual 16x16 patchify layer is
replaced by a small convolutional stem followed by an 8x8/stride-8 projection, so the total
stride stays 16 (a 256x128 crop gives 16x8 = 128 patch tokens plus the class token):

    conv 7x7/2 (3->64, no bias) - IBN - ReLU
    conv 3x3/1 (64->64, no bias) - IBN - ReLU
    conv 3x3/1 (64->64, no bias) - BatchNorm - ReLU
    conv 8x8/8 (64->D, bias)

:class:`ConvStemPatchEmbed` is a drop-in ``embed_layer`` for timm's ``VisionTransformer``; the rest
(blocks, final LayerNorm, class-token pooling) is plain timm. Importing this module registers
``vit_{tiny,small,base}_reid_convstem`` (``img_size=(256, 128)`` by default).
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Union

import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import Format, PatchEmbed, nchw_to, to_2tuple
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from .ibn import IBN

STEM_CHANNELS = 64
STEM_STRIDE = 2


class ConvStemPatchEmbed(PatchEmbed):
    """Patch embedding = IBN convolutional stem (stride 2) + projection (stride patch_size / 2).

    ``patch_size`` is the total stride, as for timm's ``PatchEmbed``; the parameter names
    (``conv.0`` ... ``conv.8``, ``proj``) are those of the original implementation.
    """

    def __init__(
            self,
            img_size: Optional[Union[int, Tuple[int, int]]] = (256, 128),
            patch_size: int = 16,
            in_chans: int = 3,
            embed_dim: int = 768,
            norm_layer: Optional[Any] = None,
            flatten: bool = True,
            output_fmt: Optional[str] = None,
            bias: bool = True,
            strict_img_size: bool = True,
            dynamic_img_pad: bool = False,
            device: Any = None,
            dtype: Any = None,
    ) -> None:
        if dynamic_img_pad:
            raise ValueError("ConvStemPatchEmbed does not support dynamic_img_pad; resize inputs to a multiple of the patch size")
        super().__init__(
            img_size=img_size, patch_size=patch_size, in_chans=in_chans, embed_dim=embed_dim,
            norm_layer=norm_layer, flatten=flatten, output_fmt=output_fmt, bias=bias,
            strict_img_size=strict_img_size, dynamic_img_pad=False, device=device, dtype=dtype,
        )
        proj_size = tuple(p // STEM_STRIDE for p in self.patch_size)
        if any(p * STEM_STRIDE != q for p, q in zip(proj_size, self.patch_size)):
            raise ValueError(f"patch_size must be even (stem stride {STEM_STRIDE}), got {self.patch_size}")
        c = STEM_CHANNELS
        self.conv = nn.Sequential(
            nn.Conv2d(in_chans, c, kernel_size=7, stride=STEM_STRIDE, padding=3, bias=False),
            IBN(c),
            nn.ReLU(inplace=True),
            nn.Conv2d(c, c, kernel_size=3, stride=1, padding=1, bias=False),
            IBN(c),
            nn.ReLU(inplace=True),
            nn.Conv2d(c, c, kernel_size=3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=True),
        )
        # Replaces the plain patchify conv built by PatchEmbed.
        self.proj = nn.Conv2d(c, embed_dim, kernel_size=proj_size, stride=proj_size, bias=bias)

    def set_input_size(self, img_size=None, patch_size=None) -> None:
        """Change the expected image size; the patch size is fixed by the stem."""
        if patch_size is not None and to_2tuple(patch_size) != self.patch_size:
            raise ValueError("ConvStemPatchEmbed cannot change its patch size (it is set by the stem)")
        super().set_input_size(img_size=img_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) images -> (N, H/16 * W/16, D) tokens (or NHWC when output_fmt says so)."""
        _, _, h, w = x.shape
        if self.img_size is not None and self.strict_img_size:
            if (h, w) != tuple(self.img_size):
                raise ValueError(f"input is {h}x{w} but the model expects {self.img_size[0]}x{self.img_size[1]} "
                                 f"(resize the crops, or build the model with img_size=({h}, {w}))")
        elif h % self.patch_size[0] or w % self.patch_size[1]:
            raise ValueError(f"input {h}x{w} is not a multiple of the patch size {self.patch_size}")
        x = self.proj(self.conv(x))
        if self.flatten:
            x = x.flatten(2).transpose(1, 2)
        elif self.output_fmt != Format.NCHW:
            x = nchw_to(x, self.output_fmt)
        return self.norm(x)


def _cfg(**kwargs: Any) -> Dict[str, Any]:
    return {
        "url": "",
        "num_classes": 0,
        "input_size": (3, 256, 128),
        "pool_size": None,
        "crop_pct": 1.0,
        "crop_mode": "squash",  # timm then resizes to 256x128 as the zoo does; "center" would crop
        "interpolation": "bicubic",
        "fixed_input_size": True,
        "mean": IMAGENET_DEFAULT_MEAN,
        "std": IMAGENET_DEFAULT_STD,
        "first_conv": "patch_embed.conv.0",
        "classifier": "head",
        **kwargs,
    }


default_cfgs = generate_default_cfgs({
    "vit_tiny_reid_convstem.cion_reidzoo": _cfg(),
    "vit_small_reid_convstem.cion_reidzoo": _cfg(),
    "vit_base_reid_convstem.cion_reidzoo": _cfg(),
})


def _create(variant: str, pretrained: bool, **kwargs: Any) -> VisionTransformer:
    kwargs.setdefault("img_size", (256, 128))
    kwargs.setdefault("embed_layer", ConvStemPatchEmbed)
    out_indices = kwargs.pop("out_indices", 3)
    return build_model_with_cfg(
        VisionTransformer, variant, pretrained,
        feature_cfg=dict(out_indices=out_indices, feature_cls="getter"),
        **kwargs,
    )


@register_model
def vit_tiny_reid_convstem(pretrained: bool = False, **kwargs: Any) -> VisionTransformer:
    """ViT-Tiny (D=192, 12 blocks, 3 heads) with the IBN conv stem, 256x128."""
    args = dict(patch_size=16, embed_dim=192, depth=12, num_heads=3)
    return _create("vit_tiny_reid_convstem", pretrained, **dict(args, **kwargs))


@register_model
def vit_small_reid_convstem(pretrained: bool = False, **kwargs: Any) -> VisionTransformer:
    """ViT-Small (D=384, 12 blocks, 6 heads) with the IBN conv stem, 256x128."""
    args = dict(patch_size=16, embed_dim=384, depth=12, num_heads=6)
    return _create("vit_small_reid_convstem", pretrained, **dict(args, **kwargs))


@register_model
def vit_base_reid_convstem(pretrained: bool = False, **kwargs: Any) -> VisionTransformer:
    """ViT-Base (D=768, 12 blocks, 12 heads) with the IBN conv stem, 256x128."""
    args = dict(patch_size=16, embed_dim=768, depth=12, num_heads=12)
    return _create("vit_base_reid_convstem", pretrained, **dict(args, **kwargs))
