"""Atomic output folders: build everything under a temporary sibling, then rename into place."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator, Union

import numpy as np

from ...atomic import atomic_dir


def check_seed(seed: int, identity_offset: int = 0) -> None:
    """Seeds and identity offsets are non-negative integers (numpy's SeedSequence needs that)."""
    for name, v in (("seed", seed), ("identity_offset", identity_offset)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {v!r}")


def check_target(root: Union[str, os.PathLike], overwrite: bool) -> Path:
    """Refuse to write over a non-empty folder unless ``overwrite`` is set (checked before any work)."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"{root} exists and is not a folder; choose another output path")
    if root.is_dir() and any(root.iterdir()) and not overwrite:
        raise FileExistsError(f"{root} already exists and is not empty; pass overwrite=True "
                              f"(--overwrite on the command line) to replace it, or choose another folder")
    return root


@contextlib.contextmanager
def atomic_folder(root: Union[str, os.PathLike], overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that replaces ``root`` only if the block finishes without error."""
    with atomic_dir(check_target(root, overwrite), overwrite=True) as tmp:  # checked above, with our messages
        yield tmp
