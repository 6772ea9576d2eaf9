"""Build checkpoints in the ReIDZoo release layout from the manifests in tests/fixtures/reidzoo_release.

The loaders are tested against release files without shipping weights. A manifest lists the teacher
state dict of one release (keys in order, shapes, dtypes, the class of the owning module, and for
BatchNorm running variances a calibration factor `scale`). Each value depends only on a salt string
and its key, so with salt "public" a backbone loaded from these tensors must reproduce
`<name>.public.expected.npy` on `input.npy`, which the original implementations produced.
See tests/fixtures/reidzoo_release/README.md for the layout of a release file.
"""
from __future__ import annotations

import argparse
import json
import math
import zlib
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "reidzoo_release"
HEAD_OUT = 65336          # the DINO head's output size in every release
RELEASE_EPOCH = 100       # the releases are the last epoch of a 100-epoch run
_INT_DTYPES = {"int64": torch.int64, "int32": torch.int32}


def manifest(name: str) -> dict:
    """The manifest of zoo model `name` (its teacher keys in release order)."""
    return json.loads((FIXTURES / f"{name}.manifest.json").read_text())


def expected_output(name: str) -> np.ndarray:
    """The original implementation's output for salt "public" on `fixture_input()`."""
    return np.load(FIXTURES / f"{name}.public.expected.npy")


def fixture_input() -> torch.Tensor:
    """The fixed (2, 3, 256, 128) float32 input the expected outputs were computed on."""
    return torch.from_numpy(np.load(FIXTURES / "input.npy"))


def _looks_like_norm(key: str, kind: Optional[str]) -> bool:
    # The module class names it in most models; a few keep norm layers under names only.
    lower = key.lower()
    return ("Norm" in (kind or "") or "norm" in lower or "bn" in lower or ".ln" in lower
            or "IN" in key)  # IBN's InstanceNorm halves are called `IN`


def _float_value(key: str, shape: tuple, kind: Optional[str], salt: str) -> torch.Tensor:
    """One float32 tensor: its own generator seeded from (salt, key), drawn by the tensor's role."""
    gen = torch.Generator().manual_seed(zlib.crc32(f"{salt}/{key}".encode("utf-8")))
    draw = {"generator": gen, "dtype": torch.float32}
    one_d = len(shape) == 1
    if key.endswith("running_var"):
        return 0.5 + torch.rand(shape, **draw)
    if key.endswith("running_mean"):
        return -0.1 + 0.2 * torch.rand(shape, **draw)
    if one_d and key.endswith("weight") and _looks_like_norm(key, kind):
        return 1.0 + 0.1 * torch.randn(shape, **draw)
    if one_d and key.endswith("bias"):
        return 0.02 * torch.randn(shape, **draw)
    fan_in = max(math.prod(shape[1:]) if len(shape) > 1 else (shape[0] if one_d else 1), 1)
    return torch.randn(shape, **draw) * (1.0 / math.sqrt(fan_in))


def teacher_tensors(name: str, salt: str = "public", *, backbone_only: bool = False) -> Dict[str, torch.Tensor]:
    """The release's teacher state dict for `name` (keys with their prefix, in release order)."""
    info = manifest(name)
    ints = {}
    if info.get("int_buffers"):
        with np.load(FIXTURES / info["int_buffers"]) as stored:
            ints = {k: stored[k] for k in stored.files}
    out: Dict[str, torch.Tensor] = {}
    for entry in info["keys"]:
        key, shape = entry["key"], tuple(entry["shape"])
        if backbone_only and not key.startswith(info["prefix"] + "backbone."):
            continue
        if entry["dtype"] == "float32":
            value = _float_value(key, shape, entry.get("kind"), salt)
            if "scale" in entry:  # calibrated once so that eval-mode BatchNorm sees unit-scale inputs
                value = value * torch.tensor(float(entry["scale"]), dtype=torch.float32)
        elif key in ints:
            value = torch.from_numpy(np.ascontiguousarray(ints[key])).to(_INT_DTYPES[entry["dtype"]])
            assert tuple(value.shape) == shape, f"{key}: stored {tuple(value.shape)} != manifest {shape}"
        elif key.endswith("num_batches_tracked"):
            value = torch.zeros(shape, dtype=_INT_DTYPES[entry["dtype"]])
        else:
            raise KeyError(f"{name}: integer tensor {key} has no stored values")
        out[key] = value.contiguous()
    return out


def write_release(name: str, path: Path, salt: str = "public", *, extras: bool = True,
                  ddp_student: bool = False) -> None:
    """Save a release-layout file for `name`: the teacher alone, or everything a training run stored.

    `ddp_student` prefixes the student's keys with `module.` even where the teacher's have none, as the
    original training script always wrapped the student in DistributedDataParallel.
    """
    teacher = teacher_tensors(name, salt)
    if not extras:
        torch.save({"teacher": teacher}, path)
        return
    add = "module." if ddp_student and not manifest(name)["prefix"] else ""
    torch.save({
        "student": {add + k: v.clone() for k, v in teacher.items()},
        "teacher": teacher,
        "epoch": RELEASE_EPOCH,
        "args": argparse.Namespace(arch=name, output_dim=HEAD_OUT),
        "Loss": {"center": torch.zeros(1, HEAD_OUT)},
    }, path)
