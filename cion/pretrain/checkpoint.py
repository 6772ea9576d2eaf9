"""Atomic training checkpoints that `torch.load(weights_only=True)` can read."""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, Dict

import numpy as np
import torch

from reidzoo.atomic import atomic_torch_save

CHECKPOINT_NAME = "checkpoint.pth"


def rng_state() -> Dict[str, Any]:
    """RNG states of torch (CPU, CUDA), numpy and Python, as tensors and plain data."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"name": np_state[0], "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
        "python": {"version": py_state[0], "state": list(py_state[1]), "gauss": py_state[2]},
    }


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore what `rng_state` captured."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))


def save_checkpoint(state: Dict[str, Any], path: os.PathLike) -> Path:
    """Write atomically: a temporary file in the same folder, fsync, then rename over the old one."""
    return atomic_torch_save(state, path)


def load_checkpoint(path: os.PathLike, map_location="cpu") -> Dict[str, Any]:
    """Read a checkpoint with the safe unpickler (tensors and plain data only); one-line errors for
    missing, truncated or foreign files (reidzoo.models.release.CheckpointError)."""
    from reidzoo.models.release import torch_load_safely
    ck = torch_load_safely(path, safe_globals=(), map_location=map_location)
    if not (isinstance(ck, dict) and {"student", "teacher", "config", "it"} <= set(ck)):
        from reidzoo.models.release import CheckpointError
        raise CheckpointError(f"{path} is not a checkpoint of `cion pretrain` (no student/teacher/config/it)")
    return ck
