"""Fine-tuning data: the training set and the P x K identity sampler (datasets: reidzoo.data's registry).

The training augmentation is `reidzoo.transforms.train_transform`, beside the eval preprocessing.
"""
from __future__ import annotations

from typing import Iterator, List, Sequence, Tuple

import numpy as np
from torch.utils.data import Dataset, Sampler

from ..transforms import read_image

Item = Tuple[str, int, int]


class TrainSet(Dataset):
    """(image tensor, label) pairs; unreadable images raise with their path."""

    def __init__(self, items: Sequence[Item], transform):
        self.items = list(items)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        path, pid, _ = self.items[i]
        img = read_image(path)
        if img is None:
            raise OSError(f"cannot decode training image {path}")
        return self.transform(img), pid


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


class CameraPKSampler(PKSampler):
    """Batches of P identities x K images, the K chosen across cameras (Cluster Contrast's sampler).

    Each pass visits every identity once, in random order: an anchor image at random, then K - 1
    images of the same identity from cameras other than the anchor's (without replacement when at
    least K such images exist, else with), or, for an identity seen by one camera, from its other
    images by the same rule. Consecutive groups of P identities make the batches; an incomplete last
    batch is dropped. An identity with a single image fills its K slots with it (the release's code
    leaves them out, which shifts the batches). The order depends only on (seed, epoch)."""

    def __init__(self, labels: Sequence[int], cams: Sequence[int], p: int, k: int, seed: int = 0):
        super().__init__(labels, p, k, seed)
        self.cams = np.asarray(cams)
        if len(self.cams) != len(labels):
            raise ValueError(f"{len(labels)} labels but {len(self.cams)} camera ids")

    def _draw(self, g: np.random.Generator, pool: np.ndarray) -> np.ndarray:
        # the release samples without replacement only when the pool holds at least K, not K - 1
        return g.choice(pool, self.k - 1, replace=len(pool) < self.k)

    def _batches(self) -> List[List[int]]:
        g = np.random.default_rng([self.seed, self.epoch])
        pids = list(self.index)
        stream: List[int] = []
        for j in g.permutation(len(pids)):
            idx = self.index[pids[j]]
            anchor = int(g.choice(idx))
            other_cams = idx[self.cams[idx] != self.cams[anchor]]
            others = other_cams if len(other_cams) else idx[idx != anchor]
            rest = self._draw(g, others) if len(others) else np.full(self.k - 1, anchor)
            stream += [anchor] + [int(i) for i in rest]
        size = self.p * self.k
        return [stream[s:s + size] for s in range(0, len(stream) - size + 1, size)]
