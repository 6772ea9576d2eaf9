"""Crop features for denoising from any zoo model, hub folder or release checkpoint, cached on disk.

One cache file per model (keyed by its name or path, plus size and mtime of weight files) maps
each crop's path and file stamp (size, mtime) to its feature, so re-runs, later rounds and a corpus
that grew by a few videos only extract what is new. Under `torchrun` (WORLD_SIZE > 1) every rank
extracts an interleaved shard of the missing crops and rank 0 joins them into the cache.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from reidzoo.atomic import atomic_path


def _file_digest(f: Path, block: int = 1 << 20) -> str:
    """Size plus a hash of the first and last MiB: content-based, cheap for GB-sized weights."""
    h = hashlib.sha1(str(f.stat().st_size).encode())
    with open(f, "rb") as fh:
        h.update(fh.read(block))
        if f.stat().st_size > block:
            fh.seek(-block, os.SEEK_END)
            h.update(fh.read(block))
    return h.hexdigest()


def model_key(model: str, weights: Optional[str] = None) -> str:
    """A short stable id of a model source: a zoo name, or the content of a weights file or folder.

    Content, not mtime: torchrun ranks (and re-copied folders) must agree on the key.
    """
    parts = []
    for src in (model, weights):
        if src is None:
            continue
        p = Path(src)
        if p.exists():
            files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
            parts.append("|".join(f"{f.name}:{_file_digest(f)}" for f in files))
        else:
            parts.append(str(src))
    return hashlib.sha1("||".join(parts).encode()).hexdigest()[:12]


def cache_path(cache_dir, model: str, weights: Optional[str] = None) -> Path:
    """The feature cache file of one model (one file per model, holding every crop seen so far)."""
    name = Path(str(model)).name.replace(os.sep, "_") or "model"
    return Path(cache_dir) / f"features-{name}-{model_key(model, weights)}.npz"


def file_stamps(root, file_paths: Sequence[str]) -> np.ndarray:
    """Size and mtime of each crop folded into one int64, so a re-mined crop never reuses old features."""
    out = np.zeros(len(file_paths), np.int64)
    for i, p in enumerate(file_paths):
        try:
            st = os.stat(Path(root) / p)
            out[i] = (st.st_mtime_ns * 1000003 + st.st_size) & 0x7FFFFFFFFFFFFFFF
        except OSError:
            out[i] = -1
    return out


def _save_atomic(path: Path, **arrays) -> None:
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)


def _load_cache(cache: Path):
    if not cache.is_file():
        return None
    with np.load(cache, allow_pickle=False) as z:
        return z["file_path"], z["stamp"], z["features"]


def _dist_info():
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    return world, rank


def extract_crop_features(root, file_paths: Sequence[str], model: str, cache_dir, weights: Optional[str] = None,
                          batch_size: int = 64, device: str = "cpu", num_workers: Optional[int] = None,
                          progress: bool = True) -> np.ndarray:
    """(N, D) float32 features of `root/file_path` crops; only crops missing from the cache are extracted.

    Crops that cannot be decoded get NaN rows (the denoiser drops and reports them); they are not
    cached, so a repaired file is tried again.
    """
    file_paths = np.asarray([str(p) for p in file_paths], dtype=str)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache = cache_path(cache_dir, model, weights)
    world, rank = _dist_info()
    stamps = file_stamps(root, file_paths)
    old = _load_cache(cache)
    found = np.full(len(file_paths), -1, np.int64)
    if old is not None:
        index = {p: i for i, p in enumerate(old[0].tolist())}
        found = np.array([index.get(p, -1) for p in file_paths.tolist()], np.int64)
        found[(found >= 0) & (old[1][np.maximum(found, 0)] != stamps)] = -1
    need = np.flatnonzero(found < 0)
    if len(need):
        new = _extract(root, file_paths[need], model, weights, batch_size, device, num_workers, progress,
                       cache, world, rank)
        if rank == 0:
            ok = np.isfinite(new).all(1)
            if old is not None and old[2].shape[1] == new.shape[1]:
                keep = np.ones(len(old[0]), bool)
                keep[found[found >= 0]] = True
                stale = np.isin(old[0], file_paths[need])  # replaced by the fresh rows
                keep &= ~stale
                paths = np.concatenate([old[0][keep], file_paths[need][ok]])
                st = np.concatenate([old[1][keep], stamps[need][ok]])
                feats = np.concatenate([old[2][keep], new[ok]])
            else:
                paths, st, feats = file_paths[need][ok], stamps[need][ok], new[ok]
            _save_atomic(cache, file_path=paths, stamp=st, features=feats.astype(np.float32))
        if world > 1:
            import torch.distributed as dist
            dist.barrier()
        old = _load_cache(cache)
        index = {p: i for i, p in enumerate(old[0].tolist())}
        found = np.array([index.get(p, -1) for p in file_paths.tolist()], np.int64)
    out = np.full((len(file_paths), old[2].shape[1]), np.nan, np.float32)
    out[found >= 0] = old[2][found[found >= 0]]
    return out


def _extract(root, paths: np.ndarray, model: str, weights: Optional[str], batch_size: int, device: str,
             num_workers: Optional[int], progress: bool, cache: Path, world: int, rank: int) -> np.ndarray:
    """Features of `paths`; under torchrun each rank does an interleaved shard and rank 0 joins them."""
    import reidzoo
    from reidzoo.baselines import COLOUR_HIST_NAME, colour_histograms

    full = [str(Path(root) / p) for p in paths.tolist()]
    if model == COLOUR_HIST_NAME:  # no network: a hand-crafted descriptor (cheap, computed on rank 0)
        return colour_histograms(full) if rank == 0 else None
    net = reidzoo.load(model, weights=weights, device=device) if weights else reidzoo.load(model, device=device)
    if world <= 1:
        return np.asarray(reidzoo.extract_features(net, full, batch_size=batch_size, num_workers=num_workers,
                                                   progress=progress, desc="crop features"), np.float32)
    import torch.distributed as dist
    ensure_process_group(device)
    mine = np.arange(rank, len(paths), world)
    feats = reidzoo.extract_features(net, [full[i] for i in mine], batch_size=batch_size, num_workers=num_workers,
                                     progress=progress and rank == 0, desc=f"crop features (rank {rank})")
    shard = cache.with_name(f"{cache.stem}.rank{rank}of{world}.npz")
    _save_atomic(shard, features=np.asarray(feats, np.float32), rows=mine)
    dist.barrier()
    out = None
    if rank == 0:
        for r in range(world):
            part = cache.with_name(f"{cache.stem}.rank{r}of{world}.npz")
            with np.load(part) as z:
                if out is None:
                    out = np.full((len(paths), z["features"].shape[1]), np.nan, np.float32)
                out[z["rows"]] = z["features"]
            part.unlink()
    return out


def ensure_process_group(device: str = "cpu") -> None:
    """Join torchrun's process group once (NCCL for GPU extraction, Gloo on CPU)."""
    import torch
    import torch.distributed as dist
    if _dist_info()[0] > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() and str(device) != "cpu" else "gloo")


def is_main_process() -> bool:
    """False on torchrun ranks other than 0 (they only help with extraction)."""
    return _dist_info()[1] == 0
