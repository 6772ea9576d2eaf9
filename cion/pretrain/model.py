"""Student / teacher networks: a zoo backbone + DINO head, run once per crop resolution."""
from __future__ import annotations

import logging
from typing import List, Optional, Sequence, Tuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

import reidzoo
from reidzoo.features import prefers_channels_last

from .head import DINOHead

log = logging.getLogger(__name__)

# timm options that let fixed-size backbones take the smaller local crops (weights unchanged)
_SIZE_FREE_OPTIONS = ({}, {"dynamic_img_size": True}, {"strict_img_size": False})


def _accepts(model: nn.Module, size: Tuple[int, int]) -> Optional[int]:
    try:
        was = model.training
        model.eval()
        with torch.no_grad():
            out = model(torch.zeros(2, 3, *size))
        model.train(was)
        return int(out.shape[-1])
    except Exception:  # noqa: BLE001 - any failure means "this size does not work"
        return None


def build_backbone(name: str, local_size: Sequence[int], global_size: Sequence[int] = (256, 128),
                   init_weights: Optional[str] = None) -> Tuple[nn.Module, int, Optional[Tuple[int, int]]]:
    """(backbone, feature dim, size locals must be resized to or None) for a zoo name.

    Tries timm's size-free options so ViT / Swin take 128x64 locals natively; a backbone that still
    cannot (VOLO) gets its locals upsampled to the global size, which costs compute but trains.
    """
    fallback = None
    model = dim = None
    for opts in _SIZE_FREE_OPTIONS:
        try:
            cand = reidzoo.create_model(name, **opts)
        except Exception:  # noqa: BLE001 - this family has no such option
            if not opts:
                raise
            continue
        d = _accepts(cand, tuple(global_size))
        if d is None:
            continue
        if _accepts(cand, tuple(local_size)) is not None:
            model, dim = cand, d
            break
        fallback = fallback or (cand, d)
    if model is None and fallback is None:
        raise RuntimeError(f"could not build zoo backbone {name!r} for {tuple(global_size)} inputs")
    resize = None
    if model is None:
        (model, dim), resize = fallback, tuple(global_size)
    if resize is not None:
        log.warning("%s cannot take %s local crops; they are resized to %s (slower)", name, tuple(local_size), resize)
    if init_weights:
        from reidzoo.loading import load_weights_into
        load_weights_into(model, name, init_weights)
    return model, dim, resize


class MultiCropNet(nn.Module):
    """Backbone + head over a list of views; consecutive views of equal size share one backbone call."""

    def __init__(self, backbone: nn.Module, head: DINOHead, local_resize: Optional[Tuple[int, int]] = None):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.local_resize = tuple(local_resize) if local_resize else None
        # NHWC makes (depthwise) convolution backward several times faster on CPU.
        self.channels_last = prefers_channels_last(backbone)
        if self.channels_last:
            self.backbone.to(memory_format=torch.channels_last)

    def forward(self, views: List[torch.Tensor], return_features: bool = False):
        """Head logits of all views (view-major); with `return_features`, (logits, backbone features)."""
        if self.local_resize:
            views = [v if tuple(v.shape[-2:]) == self.local_resize else
                     F.interpolate(v, size=self.local_resize, mode="bilinear", align_corners=False) for v in views]
        sizes = [tuple(v.shape[-2:]) for v in views]
        feats, start = [], 0
        for end in range(1, len(views) + 1):
            if end == len(views) or sizes[end] != sizes[start]:
                x = torch.cat(views[start:end])
                if self.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                feats.append(self.backbone(x))
                start = end
        feats = torch.cat(feats)
        out = self.head(feats)
        return (out, feats) if return_features else out


def _all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    from torch.distributed.nn.functional import all_reduce
    return all_reduce(x)


class GlooSyncBatchNorm(nn.BatchNorm2d):
    """Batch norm with statistics over all ranks on CPU (torch's SyncBatchNorm is GPU-only).

    Uses differentiable all-reduces, so autograd yields the exact gradient of the global statistics.
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        dims = [0] + list(range(2, x.dim()))
        n = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype)
        stats = _all_reduce_sum(torch.cat([x.sum(dims), (x * x).sum(dims), n]))
        C = x.shape[1]
        count = stats[-1]
        mean = stats[:C] / count
        var = (stats[C:2 * C] / count - mean * mean).clamp_min(0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * count / (count - 1).clamp_min(1), alpha=m)
        shape = [1, C] + [1] * (x.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """SyncBatchNorm on GPU, GlooSyncBatchNorm on CPU; a no-op outside distributed runs."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return module
    if device.type != "cpu":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _convert_cpu(module)


def _convert_cpu(module: nn.Module) -> nn.Module:
    out = module
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, GlooSyncBatchNorm):
        out = GlooSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                module.track_running_stats)
        if module.affine:
            with torch.no_grad():
                out.weight.copy_(module.weight)
                out.bias.copy_(module.bias)
        if module.track_running_stats:
            out.running_mean.copy_(module.running_mean)
            out.running_var.copy_(module.running_var)
            out.num_batches_tracked.copy_(module.num_batches_tracked)
        out.train(module.training)
    for name, child in module.named_children():
        out.add_module(name, _convert_cpu(child))
    return out
