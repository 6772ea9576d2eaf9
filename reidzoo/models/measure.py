"""Measuring zoo models by code: backbone parameters and FLOPs at 256x128."""
from __future__ import annotations

from typing import Dict

import torch
from torch.utils.flop_counter import FlopCounterMode

from .registry import create_model
from .spec import INPUT_SIZE


def count_params(model: torch.nn.Module) -> int:
    """Number of parameters (buffers excluded), i.e. the backbone without classifier."""
    return sum(p.numel() for p in model.parameters())


def count_gmacs(model: torch.nn.Module, input_size=INPUT_SIZE) -> float:
    """Multiply-accumulates (G) of one forward at input_size, the unit vision papers call FLOPs."""
    x = torch.zeros(1, *input_size)
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    # torch counts a multiply-add as 2 FLOPs; papers (fvcore/thop convention) count it once.
    return counter.get_total_flops() / 2e9


def measure(name: str) -> Dict[str, float]:
    """Params (M) and FLOPs (GMACs) of a zoo model at 256x128, measured on a fresh build."""
    model = create_model(name)
    return {"params_m": round(count_params(model) / 1e6, 4), "flops_g": round(count_gmacs(model), 4)}
