"""`reidzoo.load`: one call from a zoo name, hub folder, release checkpoint or Hub repo to a model."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import torch

from .hub import HubError, download_hub_folder, is_hub_folder, read_hub_folder
from .models.registry import create_model, get_spec, model_names
from .models.release import (CheckpointError, load_release_into, load_strict, release_backbone_state_dict,
                             torch_load_safely)
from .transforms import build_transform

PathLike = Union[str, os.PathLike]


# The preprocessing fields of a hub folder's config.json that `load` honours, as timm's local-dir: does.
PREPROCESSING_KEYS = ("input_size", "interpolation", "mean", "std", "crop_pct", "crop_mode")


def _finish(model: torch.nn.Module, device: Union[str, torch.device],
            folder_cfg: Optional[dict] = None) -> torch.nn.Module:
    saved = (folder_cfg or {}).get("pretrained_cfg") or {}
    model.pretrained_cfg = {**model.pretrained_cfg, **{k: saved[k] for k in PREPROCESSING_KEYS if k in saved}}
    model.transform = build_transform(model)
    return model.eval().to(device)


def set_input_size(model: torch.nn.Module, size: Optional[Sequence[int]]) -> torch.nn.Module:
    """Make `model` expect (H, W) inputs: its pretrained_cfg and `.transform` follow (None: unchanged)."""
    if size is None:
        return model
    h, w = (int(v) for v in size)
    if h < 16 or w < 16:
        raise ValueError(f"input size must be at least 16x16 pixels, got {h}x{w}")
    model.pretrained_cfg = {**(getattr(model, "pretrained_cfg", None) or {}), "input_size": (3, h, w)}
    model.transform = build_transform(model)
    return model


def _name_from_hub_config(cfg: dict, source: Path) -> str:
    name = (cfg.get("reidzoo") or {}).get("name")
    if name is None:
        raise HubError(f"{source}/config.json has no reidzoo.name; it was not written by this project "
                       f"(load it with timm.create_model('local-dir:{source}') instead)")
    return name


def load_weights_into(model: torch.nn.Module, name: str, weights: PathLike) -> torch.nn.Module:
    """Load a hub folder, .safetensors file or ReIDZoo release .pth into a built zoo model."""
    w = Path(weights)
    spec = get_spec(name)
    if w.is_dir():
        cfg, state = read_hub_folder(w)
        folder_name = (cfg.get("reidzoo") or {}).get("name")
        if folder_name and folder_name != name:
            raise CheckpointError(f"{w} holds {folder_name!r} weights, not {name!r}")
        load_strict(model, state, str(w), name)
    elif w.suffix == ".safetensors":
        from safetensors.torch import load_file
        load_strict(model, load_file(str(w)), str(w), name)
    elif w.suffix in (".pth", ".pt", ".bin", ".ckpt"):
        backbone, meta = release_backbone_state_dict(torch_load_safely(w), str(w))
        arch = meta.get("arch")
        if arch and arch in model_names() and arch != name:
            raise CheckpointError(f"{w} is a {arch} release checkpoint (args.arch), not {name}")
        load_release_into(model, spec, backbone, str(w))
    elif not w.exists():
        raise FileNotFoundError(f"weights {w} do not exist")
    else:
        raise CheckpointError(f"{w}: unsupported weights file type {w.suffix!r}; expected a hub folder, "
                              f".safetensors, or a ReIDZoo release .pth")
    return model


def check_source(name_or_path: PathLike, weights: Optional[PathLike] = None) -> None:
    """Fail now, before any data is read, when `load(name_or_path, weights)` cannot work: a misspelt zoo
    name (with suggestions) or a file / folder that does not exist."""
    p = Path(name_or_path)
    if not p.exists():
        if p.suffix in (".pth", ".pt", ".ckpt", ".safetensors") or len(p.parts) > 1:
            raise FileNotFoundError(f"{p}: no such checkpoint or hub folder")
        get_spec(str(name_or_path))
    if weights is not None and not Path(weights).exists():
        raise FileNotFoundError(f"weights {weights} do not exist")


def load(name_or_path: PathLike, weights: Optional[PathLike] = None, pretrained: bool = True,
         device: Union[str, torch.device] = "cpu", revision: Optional[str] = None,
         **overrides: Any) -> torch.nn.Module:
    """An eval-mode zoo backbone mapping (N,3,256,128) to (N,D), with `.transform` for preprocessing.

    `name_or_path` is a zoo name (weights from `weights=`, else the Hub / cache when
    `pretrained`, else random), a hub folder, a ReIDZoo release `.pth`, or an exported `.onnx`
    file (run by onnxruntime on the CPU; see `reidzoo.onnx_export`). `overrides` are
    constructor keywords for `create_model` that leave the weights' shapes alone (e.g.
    `drop_path_rate` for fine-tuning).
    """
    src = str(name_or_path)
    p = Path(src)
    if p.suffix == ".onnx":
        if weights is not None:
            raise ValueError(f"{p} is an ONNX file: it holds its own weights, pass no weights=")
        from .onnx_export import load_onnx
        return load_onnx(p)
    if p.exists() and p.is_dir():
        cfg, _ = read_hub_folder(p)
        name = _name_from_hub_config(cfg, p)
        return _finish(load_weights_into(create_model(name, **overrides), name, p), device, cfg)
    if p.suffix in (".pth", ".pt", ".ckpt") or p.is_file():
        if not p.exists():
            raise FileNotFoundError(f"checkpoint {p} does not exist")
        ckpt = torch_load_safely(p)
        backbone, meta = release_backbone_state_dict(ckpt, str(p))
        name = meta.get("arch")
        if name is None:
            raise CheckpointError(f"{p} does not say which zoo model it holds (no args.arch); "
                                  f"call reidzoo.load(NAME, weights='{p}')")
        get_spec(name)
        model = create_model(name, **overrides)
        load_release_into(model, get_spec(name), backbone, str(p))
        return _finish(model, device)
    name = src
    get_spec(name)  # raises UnknownModelError with suggestions
    # find the weights before building the model: a missing file or an unreachable Hub fails at once
    if weights is not None and not Path(weights).exists():
        raise FileNotFoundError(f"weights {weights} do not exist")
    source = weights if weights is not None else (download_hub_folder(name, revision=revision) if pretrained
                                                  else None)
    model = create_model(name, **overrides)
    if source is not None:
        load_weights_into(model, name, source)
    return _finish(model, device)
