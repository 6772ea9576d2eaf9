"""Batched feature extraction from a zoo model: images, paths, tensors or a DataLoader -> (N, D)."""
from __future__ import annotations

import os
import warnings
from typing import Any, Callable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .transforms import Preprocessing, build_transform, read_image


class ImageFileDataset(Dataset):
    """Reads image files and returns the model's preprocessed (3,H,W) tensors; failures are flagged."""

    def __init__(self, paths: Sequence[Union[str, os.PathLike]], transform: Callable[[Any], torch.Tensor],
                 size: Tuple[int, int]):
        self.paths = [os.fspath(p) for p in paths]
        self.transform = transform
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, bool]:
        img = read_image(self.paths[i])
        if img is None:
            return torch.zeros(3, *self.size), False
        return self.transform(img), True


def load_images(paths: Sequence[Union[str, os.PathLike]],
                model_or_cfg: Union[torch.nn.Module, Mapping[str, Any], Preprocessing, None] = None) -> torch.Tensor:
    """Decode and preprocess image files into one (N,3,H,W) tensor (undecodable files give zeros)."""
    prep = Preprocessing.of(model_or_cfg)
    ds = ImageFileDataset(paths, build_transform(prep), prep.size)
    if not len(ds):
        return torch.zeros(0, 3, *prep.size)
    return torch.stack([ds[i][0] for i in range(len(ds))])


def prefers_channels_last(model: torch.nn.Module) -> bool:
    """True for convolution-heavy nets, which run faster in NHWC memory on CPU (transformers do not)."""
    convs = sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    return convs > 20


def _model_transform(model: torch.nn.Module) -> Callable[[Any], torch.Tensor]:
    """The model's own `.transform` (set by reidzoo.load), else one built from its pretrained_cfg."""
    return getattr(model, "transform", None) or build_transform(model)


def _batches(images, batch_size: int, num_workers: int, model: torch.nn.Module):
    """Yield (tensor batch, ok mask) from any supported input."""
    if isinstance(images, DataLoader):
        for b in images:
            x = b[0] if isinstance(b, (list, tuple)) else b
            yield x, torch.ones(len(x), dtype=torch.bool)
        return
    if isinstance(images, (torch.Tensor, np.ndarray)):
        x = torch.as_tensor(images)
        if x.ndim != 4:
            raise ValueError(f"an image batch must be 4-D (N,3,H,W), got {tuple(x.shape)}")
        if x.dtype == torch.uint8:  # raw pixels: preprocess like any other image
            transform = _model_transform(model)
            if x.shape[1] != 3 and x.shape[-1] == 3:
                x = x.permute(0, 3, 1, 2)
            for s in range(0, len(x), batch_size):
                yield transform(x[s:s + batch_size]), torch.ones(min(batch_size, len(x) - s), dtype=torch.bool)
            return
        # float batches are network input that is already preprocessed
        for s in range(0, len(x), batch_size):
            yield x[s:s + batch_size].float(), torch.ones(min(batch_size, len(x) - s), dtype=torch.bool)
        return
    items = list(images)
    transform = _model_transform(model)
    if items and all(isinstance(p, (str, os.PathLike)) for p in items):
        ds = ImageFileDataset(items, transform, Preprocessing.of(model).size)
        loader = DataLoader(ds, batch_size=batch_size, num_workers=num_workers, shuffle=False,
                            persistent_workers=False)
        for x, ok in loader:
            yield x, ok
        return
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


def extract_features(model: Union[torch.nn.Module, str, os.PathLike], images: Union[Sequence, DataLoader, torch.Tensor, np.ndarray],
                     batch_size: int = 64, normalize: bool = False, num_workers: Optional[int] = None,
                     device: Optional[Union[str, torch.device]] = None, progress: bool = True,
                     return_failed: bool = False, channels_last: Optional[bool] = None,
                     desc: str = "features"):
    """(N, D) float32 embeddings of images (paths, PIL/arrays, a tensor or a DataLoader).

    `model` is a loaded model, or anything `reidzoo.load` takes (a zoo name, a hub folder, an
    exported `.onnx` file).

    Paths, PIL images, uint8 arrays/tensors (one image or an (N,3,H,W) / (N,H,W,3) uint8 batch)
    all go through the model's preprocessing (`reidzoo.transforms`), so the same pixels give the
    same features whatever their container; a float (N,3,H,W) batch is taken as ready input.

    Images that fail to decode give NaN rows and a warning naming them; with
    `return_failed=True` the call returns `(features, failed_indices)`.
    """
    if isinstance(model, (str, os.PathLike)):  # a zoo name, hub folder or .onnx file
        from .loading import load
        model = load(model)
    if device is None:
        # a model without parameters (an ONNX session) takes its input on the CPU
        first = next(model.parameters(), None)
        device = first.device if first is not None else "cpu"
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
