"""Instance-Batch Normalisation (IBN-a): InstanceNorm on the first channels, BatchNorm on the rest."""
from __future__ import annotations

import torch
from torch import nn


class IBN(nn.Module):
    """IBN layer of IBN-Net (Pan et al., 2018), as used by the ReIDZoo ResNet-IBN-a and ViT stems.

    The first ``int(channels * ratio)`` channels go through an affine ``InstanceNorm2d`` (submodule
    ``IN``), the remaining ones through ``BatchNorm2d`` (submodule ``BN``). The submodule names match
    the original IBN-Net code, so release checkpoints load without renaming.
    """

    def __init__(self, channels: int, ratio: float = 0.5) -> None:
        super().__init__()
        self.half = int(channels * ratio)
        if not 0 < self.half < channels:
            raise ValueError(f"IBN needs 0 < int(channels * ratio) < channels, got channels={channels}, ratio={ratio}")
        self.IN = nn.InstanceNorm2d(self.half, affine=True)
        self.BN = nn.BatchNorm2d(channels - self.half)

    @property
    def num_features(self) -> int:
        """Total number of channels (IN + BN), like a BatchNorm2d's ``num_features``."""
        return self.half + self.BN.num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise the two channel groups separately and concatenate them again."""
        first, rest = torch.split(x, [self.half, x.shape[1] - self.half], dim=1)
        return torch.cat([self.IN(first.contiguous()), self.BN(rest.contiguous())], dim=1)
