"""Per-iteration schedules as arrays (DINO's style), for epochs of varying length (gradual K)."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def cosine_schedule(base: float, final: float, steps_per_epoch: Sequence[int], warmup_epochs: int = 0,
                    warmup_start: float = 0.0) -> np.ndarray:
    """Linear warm-up from `warmup_start` for `warmup_epochs`, then cosine from `base` to `final`."""
    steps = [int(s) for s in steps_per_epoch]
    total = sum(steps)
    n_warm = sum(steps[:max(0, warmup_epochs)])
    warm = np.linspace(warmup_start, base, n_warm) if n_warm else np.zeros(0)
    n_cos = total - n_warm
    i = np.arange(n_cos)
    cos = final + 0.5 * (base - final) * (1 + np.cos(np.pi * i / max(n_cos, 1)))
    return np.concatenate([warm, cos])


def teacher_temp_schedule(warmup_temp: float, temp: float, warmup_epochs: int, epochs: int) -> np.ndarray:
    """Teacher temperature per epoch: linear warm-up, then constant."""
    warm = np.linspace(warmup_temp, temp, warmup_epochs) if warmup_epochs > 0 else np.zeros(0)
    return np.concatenate([warm, np.full(max(0, epochs - len(warm)), temp)])
