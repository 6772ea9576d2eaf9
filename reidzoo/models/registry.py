"""The registry of the ReIDZoo models: their ZooSpecs (families/), measured sizes, construction."""
from __future__ import annotations

import difflib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional

import timm
import torch

from .families import all_specs
from .spec import INPUT_SIZE, MEAN, STD, ZooSpec

_HERE = Path(__file__).resolve().parent
MEASURED_JSON = _HERE / "measured.json"  # written by `reidzoo zoo measure`, never by hand


class UnknownModelError(KeyError):
    """A model name that is not in the zoo."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


@lru_cache(maxsize=None)
def _zoo() -> Dict[str, ZooSpec]:
    return {s.name: s for s in all_specs()}


def measured_table() -> Dict[str, Dict[str, float]]:
    """Parameter counts and FLOPs measured by code at 256x128 (see `reidzoo zoo measure`)."""
    if MEASURED_JSON.exists():
        return json.loads(MEASURED_JSON.read_text())
    return {}


def model_names() -> List[str]:
    """The zoo names, in the paper's order."""
    return list(_zoo())


def get_spec(name: str) -> ZooSpec:
    """The ZooSpec of a zoo name; a misspelt name fails with the closest names suggested."""
    zoo = _zoo()
    if name in zoo:
        return zoo[name]
    close = difflib.get_close_matches(name, list(zoo), n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise UnknownModelError(
        f"unknown ReIDZoo model {name!r}.{hint} See reidzoo.list_models() or `reidzoo zoo list` "
        f"for the {len(zoo)} names."
    )


def pretrained_cfg(spec: ZooSpec) -> Dict[str, Any]:
    """timm-style pretrained_cfg for a zoo model (256x128 person crops)."""
    return {
        "architecture": spec.arch,
        "input_size": list(INPUT_SIZE),
        "mean": list(MEAN),
        "std": list(STD),
        "interpolation": "bicubic",
        "crop_pct": 1.0,
        "crop_mode": "squash",  # timm then resizes to 256x128 as the zoo does; "center" would crop
        "num_classes": 0,
    }


def create_model(name: str, **overrides: Any) -> torch.nn.Module:
    """Build a randomly initialised zoo backbone (no classifier) that maps (N,3,256,128) to (N,D)."""
    spec = get_spec(name)
    kwargs = dict(spec.kwargs)
    kwargs.update(overrides)
    kwargs.setdefault("num_classes", 0)
    model = timm.create_model(spec.arch, pretrained=False, **kwargs)
    # Keep only timm's structural fields; its ImageNet tags/licences/test sizes do not apply here.
    timm_cfg = getattr(model, "pretrained_cfg", {}) or {}
    cfg = {k: timm_cfg[k] for k in ("first_conv", "classifier", "fixed_input_size") if k in timm_cfg}
    cfg.update(pretrained_cfg(spec))
    model.pretrained_cfg = cfg
    model.zoo_name = name
    return model


def list_models(as_rows: bool = True) -> List[Dict[str, Any]]:
    """One row per zoo model: its spec (paper params/FLOPs/results, pre-training sizing) beside what we measure."""
    measured = measured_table()
    rows = []
    for name, spec in _zoo().items():
        p = spec.paper.row() if spec.paper else {}
        m = measured.get(name, {})
        batch, local_crops = spec.pretrain_sizing()
        rows.append({
            "name": name,
            "family": spec.family,
            "arch": spec.arch,
            "embed_dim": spec.embed_dim,
            "paper_params_m": p.get("params_m"),
            "paper_backbone_params_m": p.get("backbone_params_m"),
            "params_m": m.get("params_m"),
            "paper_flops_g": p.get("flops_g"),
            "flops_g": m.get("flops_g"),
            "market1501_map": p.get("market1501_map"),
            "market1501_rank1": p.get("market1501_rank1"),
            "msmt17_map": p.get("msmt17_map"),
            "msmt17_rank1": p.get("msmt17_rank1"),
            "pretrain_batch_per_gpu": batch,
            "pretrain_local_crops": local_crops,
        })
    return rows


# Import every family now: that registers the architectures timm lacks (ResNet-IBN-a, conv-stem
# ViT, RepViT re-ID variant). (`import reidzoo` alone registers them when timm is imported:
# reidzoo/timm_hook.py.)
_zoo()
