"""Fine-tuning data: dataset selection, train augmentation, the P x K identity sampler."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler
from torchvision.transforms import v2 as T

from ..models.spec import MEAN, STD

Item = Tuple[str, int, int]
DATASETS = ("market1501", "msmt17", "synthetic")


def load_dataset(name: str, root: Optional[os.PathLike] = None):
    """A reader with .train/.query/.gallery; 'synthetic' is a Market-format folder (`reidzoo synthetic market`)."""
    from ..data import MSMT17, Market1501
    if name in ("market1501", "synthetic"):
        return Market1501(root)
    if name == "msmt17":
        return MSMT17(root)
    raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


def train_transform(size=(256, 128), pad: int = 10, flip: float = 0.5, erasing: float = 0.5) -> T.Compose:
    """Flip, pad-and-crop and random erasing: the usual re-ID training augmentation."""
    ops = [T.ToImage(), T.Resize(size, antialias=True)]
    if flip > 0:
        ops.append(T.RandomHorizontalFlip(flip))
    if pad > 0:
        ops += [T.Pad(pad, padding_mode="constant"), T.RandomCrop(size)]
    ops += [T.ToDtype(torch.float32, scale=True), T.Normalize(list(MEAN), list(STD))]
    if erasing > 0:
        ops.append(T.RandomErasing(p=erasing, value=0))
    return T.Compose(ops)


class TrainSet(Dataset):
    """(image tensor, label) pairs read with OpenCV; unreadable images raise with their path."""

    def __init__(self, items: Sequence[Item], transform):
        self.items = list(items)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        path, pid, _ = self.items[i]
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            raise OSError(f"cannot decode training image {path}")
        return self.transform(img[:, :, ::-1].copy()), pid


class PKSampler(Sampler[int]):
    """Batches of P identities x K images; identities with fewer than K images are drawn with
    replacement. The order depends only on (seed, epoch), so a resumed run sees the same batches."""

    def __init__(self, labels: Sequence[int], p: int, k: int, seed: int = 0):
        self.p, self.k, self.seed, self.epoch = p, k, seed, 0
        labels = np.asarray(labels)
        self.index = {int(c): np.flatnonzero(labels == c) for c in np.unique(labels)}
        if len(self.index) < p:
            raise ValueError(f"P={p} identities per batch but the train split has only {len(self.index)}")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> List[List[int]]:
        g = np.random.default_rng([self.seed, self.epoch])
        chunks = {}
        for pid, idx in self.index.items():
            idx = g.permutation(idx) if len(idx) >= self.k else g.choice(idx, self.k, replace=True)
            chunks[pid] = [idx[s:s + self.k] for s in range(0, len(idx) - self.k + 1, self.k)]
        batches, avail = [], [p for p in chunks if chunks[p]]
        while len(avail) >= self.p:
            chosen = [avail[j] for j in g.choice(len(avail), self.p, replace=False)]
            batches.append([int(i) for pid in chosen for i in chunks[pid].pop()])
            avail = [p for p in avail if chunks[p]]
        return batches

    def __iter__(self) -> Iterator[int]:
        for b in self._batches():
            yield from b

    def __len__(self) -> int:
        return sum(len(b) for b in self._batches())
