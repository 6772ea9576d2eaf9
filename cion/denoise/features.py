"""Crop features for denoising from any zoo model, hub folder or release checkpoint, cached on disk.

The cache file is keyed by the model (name or path, plus size and mtime of a weights file) and by
the list of crops, so later levels, re-runs and other rounds never recompute. Under `torchrun`
(WORLD_SIZE > 1) every rank extracts an interleaved shard, writes it next to the cache, and rank 0
joins them once all ranks reached the barrier.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np


def model_key(model: str, weights: Optional[str] = None) -> str:
    """A short stable id of a model source: zoo name, or a path with its size and mtime."""
    parts = []
    for src in (model, weights):
        if src is None:
            continue
        p = Path(src)
        if p.exists():
            files = sorted(p.rglob("*")) if p.is_dir() else [p]
            sig = [(str(f.relative_to(p) if p.is_dir() else f.name), f.stat().st_size, int(f.stat().st_mtime))
                   for f in files if f.is_file()]
            parts.append(f"{p.resolve()}|{sig}")
        else:
            parts.append(str(src))
    return hashlib.sha1("||".join(parts).encode()).hexdigest()[:12]


def _paths_key(paths: Sequence[str]) -> str:
    h = hashlib.sha1()
    for p in paths:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()[:12]


def cache_path(cache_dir, model: str, file_paths: Sequence[str], weights: Optional[str] = None) -> Path:
    """Where the features of these crops under this model are cached."""
    name = Path(str(model)).name.replace(os.sep, "_")
    return Path(cache_dir) / f"features-{name}-{model_key(model, weights)}-{_paths_key(file_paths)}.npz"


def _save_atomic(path: Path, **arrays) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _dist_info():
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    return world, rank


def extract_crop_features(root, file_paths: Sequence[str], model: str, cache_dir, weights: Optional[str] = None,
                          batch_size: int = 64, device: str = "cpu", num_workers: Optional[int] = None,
                          progress: bool = True) -> np.ndarray:
    """(N, D) float32 features of `root/file_path` crops, from the cache when present.

    Crops that cannot be decoded get NaN rows (the denoiser drops and reports them).
    """
    import reidzoo
    import torch

    file_paths = [str(p) for p in file_paths]
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache = cache_path(cache_dir, model, file_paths, weights)
    world, rank = _dist_info()
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            return z["features"]
    net = reidzoo.load(model, weights=weights, device=device) if weights else reidzoo.load(model, device=device)
    if world > 1:
        import torch.distributed as dist
        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() and device != "cpu" else "gloo")
        mine = list(range(rank, len(file_paths), world))
        feats = reidzoo.extract_features(net, [str(Path(root) / file_paths[i]) for i in mine], batch_size=batch_size,
                                         num_workers=num_workers, progress=progress and rank == 0,
                                         desc=f"features rank {rank}")
        shard = cache.with_name(f"{cache.stem}.rank{rank}of{world}.npz")
        _save_atomic(shard, features=feats, rows=np.asarray(mine, np.int64))
        dist.barrier()
        if rank == 0:
            out = None
            for r in range(world):
                part = cache.with_name(f"{cache.stem}.rank{r}of{world}.npz")
                with np.load(part) as z:
                    if out is None:
                        out = np.full((len(file_paths), z["features"].shape[1]), np.nan, np.float32)
                    out[z["rows"]] = z["features"]
            _save_atomic(cache, features=out, file_path=np.asarray(file_paths, dtype=str))
            for r in range(world):
                cache.with_name(f"{cache.stem}.rank{r}of{world}.npz").unlink(missing_ok=True)
        dist.barrier()
        with np.load(cache, allow_pickle=False) as z:
            return z["features"]
    feats = reidzoo.extract_features(net, [str(Path(root) / p) for p in file_paths], batch_size=batch_size,
                                     num_workers=num_workers, progress=progress, desc="crop features")
    feats = np.asarray(feats, np.float32)
    _save_atomic(cache, features=feats, file_path=np.asarray(file_paths, dtype=str))
    return feats


def is_main_process() -> bool:
    """False on torchrun ranks other than 0 (they only help with extraction)."""
    return _dist_info()[1] == 0
