"""Reading original ReIDZoo release checkpoints (`.pth` with a DINO `teacher`) safely."""
from __future__ import annotations

import argparse
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any, Dict, Sequence, Tuple

import torch

from .spec import StateDict

# The release files pickle an argparse.Namespace under "args"; that is the only non-tensor
# global they need, so weights_only loading stays safe with it allow-listed.
SAFE_GLOBALS = [argparse.Namespace]
_PREFIXES = ("module.backbone.", "backbone.")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used for the requested model."""


def torch_load_safely(path: os.PathLike, safe_globals: Sequence[Any] = tuple(SAFE_GLOBALS),
                      map_location: Any = "cpu") -> Any:
    """torch.load with weights_only=True and only `safe_globals` allowed; one-line errors in our words.

    A file that needs any other Python object is refused: unpickling it could run code. The message
    never suggests weights_only=False (torch's own does), since the files this project reads never need it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"{path} is not a PyTorch checkpoint (expected a torch.save zip file such as a "
            f"ReIDZoo release .pth; got {path.stat().st_size} bytes of something else, "
            f"maybe a truncated download: fetch it again)"
        )
    try:
        with torch.serialization.safe_globals(list(safe_globals)):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        raise CheckpointError(
            f"{path} was refused: besides tensors and plain data it holds a Python object "
            f"({found.group(1) if found else 'of an unknown type'}) that could run code when unpickled. Release "
            f"checkpoints and this project's files never do; if you made this file, save a state_dict or a "
            f".safetensors file instead") from None
    except Exception as exc:  # noqa: BLE001 - torch raises several types for damaged files
        first = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise CheckpointError(f"cannot read {path} ({first}); it may be truncated or damaged: "
                              f"copy or download it again") from exc


def release_backbone_state_dict(ckpt: Any, source: str = "checkpoint") -> Tuple[StateDict, Dict[str, Any]]:
    """The backbone tensors of a release dict (teacher preferred), with prefixes and head removed."""
    meta: Dict[str, Any] = {}
    if isinstance(ckpt, dict) and "teacher" in ckpt:
        sd = ckpt["teacher"]
        args = ckpt.get("args")
        if args is not None and hasattr(args, "arch"):
            meta["arch"] = args.arch
        if "epoch" in ckpt:
            meta["epoch"] = ckpt["epoch"]
    elif isinstance(ckpt, dict) and "state_dict" in ckpt:
        sd = ckpt["state_dict"]
    elif isinstance(ckpt, dict) and ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        sd = ckpt
    else:
        raise CheckpointError(f"{source} holds no 'teacher' state dict (keys: {list(ckpt)[:8] if isinstance(ckpt, dict) else type(ckpt).__name__})")
    out: StateDict = {}
    found_prefix = False
    for k, v in sd.items():
        for p in _PREFIXES:
            if k.startswith(p):
                out[k[len(p):]] = v
                found_prefix = True
                break
    if not found_prefix:
        # A bare backbone state dict (no wrapper): drop a DDP prefix and any DINO head keys.
        out = {k[7:] if k.startswith("module.") else k: v for k, v in sd.items()}
        out = {k: v for k, v in out.items() if not k.startswith("head.mlp") and not k.startswith("head.last_layer")}
    return out, meta


def load_strict(model: torch.nn.Module, state: StateDict, source: str, name: str) -> None:
    """load_state_dict(strict=True) with one clear error listing missing / unexpected / mis-shaped keys."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[:3]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})")
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} with wrong shape (e.g. {k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)})")
        raise CheckpointError(
            f"{source} does not match {name}: " + "; ".join(parts)
            + ". Is it a checkpoint of a different model, or truncated?"
        )
    model.load_state_dict(state, strict=True)


def load_release_into(model: torch.nn.Module, spec, backbone_sd: StateDict, source: str) -> None:
    """Map release names to timm names with the family's converter and load strictly."""
    try:
        mapped = spec.from_release(dict(backbone_sd), model)
    except KeyError as exc:
        raise CheckpointError(
            f"{source} does not look like a {spec.name} release checkpoint (missing key {exc}); "
            f"check --name / the model name matches the file"
        ) from exc
    load_strict(model, mapped, source, spec.name)
