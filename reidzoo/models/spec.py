"""The description of one ReIDZoo model: a name, its timm architecture and how to read its release."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping

import torch

StateDict = Dict[str, torch.Tensor]

# All zoo models take person crops of 256x128 (height x width), ImageNet statistics.
INPUT_SIZE = (3, 256, 128)
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def _identity(state_dict: StateDict, model: torch.nn.Module) -> StateDict:
    return state_dict


@dataclass(frozen=True)
class ZooSpec:
    """One zoo entry: timm architecture + kwargs, and the mapping from the original release naming."""

    name: str
    family: str
    arch: str
    embed_dim: int
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    # Maps a release backbone state dict (prefix and head already stripped, original naming)
    # to the timm model's naming. Receives the freshly built timm model for shape-aware remaps.
    from_release: Callable[[StateDict, torch.nn.Module], StateDict] = _identity
