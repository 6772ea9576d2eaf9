"""The one record of a ReIDZoo model: name, timm architecture, release format, paper numbers, pre-training sizing.

Everything else about a zoo model derives from its ZooSpec: `list_models`, the model cards, the
pre-training config (`cion pretrain --model NAME`), the docs table and the tests. The only other
per-model data is `measured.json`, written by `reidzoo zoo measure` from the built model.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

import torch

StateDict = Dict[str, torch.Tensor]

# All zoo models take person crops of 256x128 (height x width), ImageNet statistics.
INPUT_SIZE = (3, 256, 128)
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def _identity(state_dict: StateDict, model: torch.nn.Module) -> StateDict:
    return state_dict


@dataclass(frozen=True)
class PaperNumbers:
    """One row of the CION paper's ReIDZoo table, as reported there (never re-measured here)."""

    params_m: float                     # parameters as tabulated (M)
    flops_g: float                      # FLOPs at 256x128 (G multiply-accumulates)
    market1501: Tuple[float, float]     # fine-tuned mAP, Rank-1 (%)
    msmt17: Tuple[float, float]         # fine-tuned mAP, Rank-1 (%)
    backbone_params_m: Optional[float] = None  # without classifier, where the paper's count includes one

    def row(self) -> Dict[str, float]:
        """Flat fields: params_m, backbone_params_m, flops_g, market1501_map/_rank1, msmt17_map/_rank1."""
        backbone = self.params_m if self.backbone_params_m is None else self.backbone_params_m
        return {"params_m": self.params_m, "backbone_params_m": backbone, "flops_g": self.flops_g,
                "market1501_map": self.market1501[0], "market1501_rank1": self.market1501[1],
                "msmt17_map": self.msmt17[0], "msmt17_rank1": self.msmt17[1]}


def pretrain_sizing_rule(flops_g: float) -> Tuple[int, int]:
    """(images per GPU, local crops) for a backbone's cost, so that one run fits a 32 GB GPU."""
    # our rule, not the paper's: 120 images and 8 locals up to 5 GFLOPs, then fewer; the batch stays
    # a multiple of every gradual K (2, 4, 6, 8)
    if flops_g <= 5:
        return 120, 8
    if flops_g <= 9.5:
        return 96, 8
    if flops_g <= 11:
        return 72, 6
    return 48, 6


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
    paper: Optional[PaperNumbers] = None
    # (images per GPU, local crops) of CION pre-training; None: pretrain_sizing_rule on the paper's FLOPs
    pretrain: Optional[Tuple[int, int]] = None

    def pretrain_sizing(self) -> Tuple[int, int]:
        """(batch_size_per_gpu, local_crops) of this model's CION pre-training on one 32 GB GPU."""
        if self.pretrain is not None:
            return self.pretrain
        if self.paper is None:
            raise ValueError(f"{self.name}: give its ZooSpec pretrain=(batch, locals) or paper numbers")
        return pretrain_sizing_rule(self.paper.flops_g)
