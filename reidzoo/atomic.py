"""Atomic writes: build a file or folder under a temporary name beside the target, then rename it over.

Readers never see half a file, and a failed write (disk full, a crash, Ctrl-C) keeps the old target.
`atomic_path` serves any writer that takes a path (np.savez, fig.savefig, json); `atomic_dir` whole folders.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


@contextmanager
def atomic_path(path: os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same suffix, so savefig/np.savez keep the format); on success
    fsync it and rename it over `path`, on failure remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # pid + random part: several processes (ranks, shards) may write the same target
    tmp = path.with_name(f".{path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path: os.PathLike, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def atomic_write_bytes(path: os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_torch_save(obj: Any, path: os.PathLike) -> Path:
    """torch.save that never leaves a half-written file: a failed write (disk full) keeps the old one."""
    import torch  # here, not at the top: the evaluation imports this module and needs no torch
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(obj, fh)
    return Path(path)


def check_new_dir(path: os.PathLike, overwrite: bool = False) -> None:
    """FileExistsError when `path` is a non-empty folder (or a file) and `overwrite` is not set; call it
    before the work whose result `atomic_dir` will write there."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} exists and is a file, not a folder")
    if path.exists() and not overwrite and any(path.iterdir()):
        raise FileExistsError(f"{path} exists and is not empty; pass overwrite=True (--overwrite) to replace it")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_dir(path: os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder beside `path`; on success it replaces `path`, on failure it goes.

    An existing non-empty `path` is an error unless `overwrite`; it is kept until the new folder is complete.
    Folder and files get the modes of a plain mkdir / open under the umask: mkdtemp makes 0700 and
    some writers (safetensors) 0600, which would hide a shared model folder from other users.
    """
    path = Path(path)
    check_new_dir(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        yield tmp
        mask = _umask()
        for p in [tmp, *tmp.rglob("*")]:
            if not p.is_symlink():
                os.chmod(p, (0o777 if p.is_dir() else 0o666) & ~mask)
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}")
            path.rename(old)
            tmp.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
