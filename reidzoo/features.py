"""Batched feature extraction from a zoo model: images, paths, tensors or a DataLoader -> (N, D)."""
from __future__ import annotations

import os
import warnings
from typing import Iterable, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .models.spec import INPUT_SIZE, MEAN, STD


class ImageFileDataset(Dataset):
    """Reads image files with OpenCV and returns normalised (3,H,W) tensors; failures are flagged."""

    def __init__(self, paths: Sequence[Union[str, os.PathLike]], input_size=INPUT_SIZE, mean=MEAN, std=STD):
        self.paths = [os.fspath(p) for p in paths]
        self.hw = (int(input_size[1]), int(input_size[2]))
        self.mean = np.asarray(mean, np.float32).reshape(1, 1, 3) * 255.0
        self.inv_std = 1.0 / (np.asarray(std, np.float32).reshape(1, 1, 3) * 255.0)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, bool]:
        img = cv2.imread(self.paths[i], cv2.IMREAD_COLOR)
        if img is None:
            return torch.zeros(3, *self.hw), False
        img = cv2.resize(img, (self.hw[1], self.hw[0]), interpolation=cv2.INTER_CUBIC)
        x = (img[:, :, ::-1].astype(np.float32) - self.mean) * self.inv_std
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))), True


def prefers_channels_last(model: torch.nn.Module) -> bool:
    """True for convolution-heavy nets, which run faster in NHWC memory on CPU (transformers do not)."""
    convs = sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    return convs > 20


def _batches(images, batch_size: int, num_workers: int, model: torch.nn.Module):
    """Yield (tensor batch, ok mask) from any supported input."""
    if isinstance(images, DataLoader):
        for b in images:
            x = b[0] if isinstance(b, (list, tuple)) else b
            yield x, torch.ones(len(x), dtype=torch.bool)
        return
    if isinstance(images, torch.Tensor) or isinstance(images, np.ndarray):
        x = torch.as_tensor(images)
        if x.ndim != 4:
            raise ValueError(f"image tensor must be (N,3,H,W), got {tuple(x.shape)}")
        for s in range(0, len(x), batch_size):
            yield x[s:s + batch_size].float(), torch.ones(min(batch_size, len(x) - s), dtype=torch.bool)
        return
    items = list(images)
    if items and all(isinstance(p, (str, os.PathLike)) for p in items):
        cfg = getattr(model, "pretrained_cfg", {}) or {}
        ds = ImageFileDataset(items, cfg.get("input_size", INPUT_SIZE), cfg.get("mean", MEAN), cfg.get("std", STD))
        loader = DataLoader(ds, batch_size=batch_size, num_workers=num_workers, shuffle=False,
                            persistent_workers=False)
        for x, ok in loader:
            yield x, ok
        return
    transform = getattr(model, "transform", None)
    if transform is None:
        raise ValueError("model has no .transform; pass tensors, or load it with reidzoo.load")
    for s in range(0, len(items), batch_size):
        chunk = items[s:s + batch_size]
        yield torch.stack([transform(im) for im in chunk]), torch.ones(len(chunk), dtype=torch.bool)


def _length(images) -> Optional[int]:
    if isinstance(images, DataLoader):
        try:
            return len(images.dataset)
        except TypeError:
            return None
    try:
        return len(images)
    except TypeError:
        return None


def extract_features(model: torch.nn.Module, images: Union[Sequence, DataLoader, torch.Tensor, np.ndarray],
                     batch_size: int = 64, normalize: bool = False, num_workers: Optional[int] = None,
                     device: Optional[Union[str, torch.device]] = None, progress: bool = True,
                     return_failed: bool = False, channels_last: Optional[bool] = None,
                     desc: str = "features"):
    """(N, D) float32 embeddings of images (paths, PIL/arrays, a tensor or a DataLoader).

    Images that fail to decode give NaN rows and a warning naming them; with
    `return_failed=True` the call returns `(features, failed_indices)`.
    """
    if device is None:
        device = next(model.parameters()).device
    if num_workers is None:
        num_workers = min(4, max(0, (os.cpu_count() or 1) - 1))
    if channels_last is None:
        channels_last = prefers_channels_last(model)
    model.eval()
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    total = _length(images)
    feats: List[np.ndarray] = []
    failed: List[int] = []
    seen = 0
    with torch.inference_mode(), tqdm(total=total, desc=desc, unit="img", disable=not progress,
                                      dynamic_ncols=True) as bar:
        for x, ok in _batches(images, batch_size, num_workers, model):
            x = x.to(device, non_blocking=True).contiguous(memory_format=memory_format)
            f = model(x)
            if f.ndim != 2:
                f = f.flatten(1)
            if normalize:
                f = torch.nn.functional.normalize(f.float(), dim=1)
            f = f.float().cpu().numpy()
            if not bool(ok.all()):
                bad = (~ok).nonzero().flatten().tolist()
                f[bad] = np.nan
                failed.extend(seen + b for b in bad)
            feats.append(f)
            seen += len(f)
            bar.update(len(f))
    out = np.concatenate(feats, 0) if feats else np.zeros((0, 0), np.float32)
    if failed:
        paths = getattr(images, "__getitem__", None)
        names = [os.fspath(images[i]) for i in failed[:5]] if paths and not isinstance(images, DataLoader) else failed[:5]
        warnings.warn(f"{len(failed)} image(s) failed to decode and have NaN features, e.g. {names}")
    return (out, failed) if return_failed else out
