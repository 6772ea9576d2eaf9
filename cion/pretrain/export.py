"""Teacher backbone of a pre-training checkpoint -> ReIDZoo hub folder (reidzoo.load reads it)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import reidzoo
from reidzoo.cards import Provenance

from .checkpoint import load_checkpoint


def export_teacher(checkpoint: os.PathLike, out_dir: os.PathLike, name: Optional[str] = None,
                   overwrite: bool = False) -> Path:
    """Write the teacher's backbone as a hub folder; `name` defaults to the run's model."""
    from reidzoo.atomic import check_new_dir
    check_new_dir(out_dir, overwrite)
    ck = load_checkpoint(checkpoint)
    cfg = ck.get("config") or {}
    run_model = cfg.get("model")
    name = name or run_model
    if name is None:
        raise ValueError(f"{checkpoint} does not say which zoo model it trained; pass --name")
    if run_model and name != run_model:
        raise ValueError(f"{checkpoint} trained {run_model}, not {name}; pass --name {run_model}")
    backbone = reidzoo.create_model(name)
    state = {k[len("backbone."):]: v for k, v in ck["teacher"].items() if k.startswith("backbone.")}
    missing, unexpected = backbone.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{checkpoint}: teacher backbone does not match {name} "
                         f"({len(missing)} missing, {len(unexpected)} unexpected keys, e.g. "
                         f"{(missing or unexpected)[:2]})")
    provenance = Provenance.pretrain(cfg, epochs_done=ck["epoch"], iterations=ck["it"])
    return reidzoo.save_hub_folder(backbone.eval(), name, out_dir, provenance=provenance, overwrite=overwrite)
