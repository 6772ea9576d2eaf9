"""One BatchNorm rule for comparing initialisations on frozen features (docs/pretrain.md, 'The BN rule')."""
from __future__ import annotations

from typing import Iterable, Union

import torch
from torch import nn


@torch.no_grad()
def reestimate_bn(model: nn.Module, images: Union[torch.Tensor, Iterable[torch.Tensor]],
                  batch_size: int = 64) -> nn.Module:
    """Reset every BatchNorm's running statistics and re-estimate them on `images`; returns `model` in eval mode.

    `images` is an (N, 3, H, W) tensor (cut into batches of `batch_size`) or an iterable of such
    batches. Each BatchNorm layer normalises with its batch's statistics (train mode, as in training)
    and keeps the cumulative average of them (momentum=None); every other module stays in eval mode,
    so dropout and drop-path stay off. Weights are not touched.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    model.eval()
    if not bns:
        return model
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    device = next(model.parameters()).device
    batches = images.split(batch_size) if isinstance(images, torch.Tensor) else images
    seen = 0
    try:
        for x in batches:
            if len(x) < 2:  # a 1-image batch has no variance to estimate
                continue
            model(x.to(device))
            seen += len(x)
    finally:
        for m, mom in zip(bns, momenta):
            m.momentum = mom
            m.eval()
    if not seen:
        raise ValueError("reestimate_bn needs at least one batch of 2 or more images")
    return model
