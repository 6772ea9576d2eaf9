"""P identities x K images per rank and step, deterministic for (seed, epoch), whole identities per rank."""
from __future__ import annotations

import math
from typing import Iterator, List, Sequence, Tuple

import numpy as np
from torch.utils.data import Sampler


def k_for_epoch(epoch: int, gradual_epochs: Sequence[int], gradual_instances: Sequence[int]) -> int:
    """Gradual K: instances per identity for an epoch (K_i until epoch gradual_epochs[i])."""
    if len(gradual_epochs) != len(gradual_instances) or not gradual_instances:
        raise ValueError(f"gradual_epochs {list(gradual_epochs)} and gradual_instances "
                         f"{list(gradual_instances)} must be non-empty lists of the same length")
    for end, k in zip(gradual_epochs, gradual_instances):
        if epoch < end:
            return int(k)
    return int(gradual_instances[-1])


class IdentityBatchSampler(Sampler[List[Tuple[int, int]]]):
    """Yields this rank's batches as lists of (dataset index, augmentation seed).

    An epoch splits each identity's shuffled images into max(1, n // K) chunks of K (an identity
    with fewer than K images is drawn with replacement) and visits the chunks in rounds, each round
    a permutation of the identities that still hold a chunk. A global batch takes world_size * P
    chunks of distinct identities; rank r gets chunks r*P .. r*P+P-1, so ranks never share an
    identity within a step and a 1-process run over the same global batch sees the same images.
    """

    def __init__(self, labels: Sequence[int], ids_per_batch: int, num_instances: int, *, world_size: int = 1,
                 rank: int = 0, seed: int = 0, epoch: int = 0, start_batch: int = 0):
        self.labels = np.asarray(labels, dtype=np.int64)
        self.P, self.K = int(ids_per_batch), int(num_instances)
        self.world_size, self.rank = int(world_size), int(rank)
        self.seed, self.epoch, self.start_batch = int(seed), int(epoch), int(start_batch)
        if self.P < 1 or self.K < 1:
            raise ValueError(f"P={self.P} identities x K={self.K} images: both must be >= 1")
        order = np.argsort(self.labels, kind="stable")
        ids, starts, counts = np.unique(self.labels[order], return_index=True, return_counts=True)
        self._groups = [order[s:s + c] for s, c in zip(starts, counts)]
        self.num_ids = len(ids)
        G = self.P * self.world_size
        if self.num_ids < G:
            raise ValueError(f"the set has {self.num_ids} identities but a global batch needs {G} distinct "
                             f"ones (P={self.P} x {self.world_size} ranks); lower the batch size or raise K")
        self._chunks = np.maximum(1, counts // self.K)

    def __len__(self) -> int:
        return max(0, int(self._chunks.sum()) // (self.P * self.world_size) - self.start_batch)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch (and the batch to start from, for exact mid-epoch resume)."""
        self.epoch, self.start_batch = int(epoch), int(start_batch)

    def global_batches(self) -> np.ndarray:
        """(num_batches, world*P, K) dataset indices of this epoch, identical on every rank."""
        K, G = self.K, self.P * self.world_size
        rng = np.random.default_rng([self.seed, self.epoch, K])
        chunks = []
        for idxs, c in zip(self._groups, self._chunks):
            if len(idxs) < K:
                chunks.append(rng.choice(idxs, size=(1, K), replace=True))
            else:
                chunks.append(rng.permutation(idxs)[:c * K].reshape(c, K))
        n_batches = int(self._chunks.sum()) // G
        out = np.empty((n_batches, G, K), dtype=np.int64)
        b, cur, cur_ids, r = 0, [], set(), 0
        max_rounds = int(self._chunks.max())
        while b < n_batches:
            if r < max_rounds:
                ids_r = np.nonzero(self._chunks > r)[0]
                take = lambda i: chunks[i][r]  # noqa: E731
            else:  # late rounds too small to fill distinct batches: fresh draws from every identity
                ids_r = np.arange(self.num_ids)
                take = lambda i: rng.choice(self._groups[i], size=K, replace=len(self._groups[i]) < K)  # noqa: E731
            perm = rng.permutation(ids_r)
            if cur_ids:  # identities already in the open batch go last (stable), so the batch stays distinct
                clash = np.isin(perm, list(cur_ids))
                perm = np.concatenate([perm[~clash], perm[clash]])
            for i in perm.tolist():
                if i in cur_ids:
                    continue
                cur.append(take(i))
                cur_ids.add(i)
                if len(cur) == G:
                    out[b] = np.stack(cur)
                    b, cur, cur_ids = b + 1, [], set()
                    if b == n_batches:
                        break
            r += 1
        return out

    def __iter__(self) -> Iterator[List[Tuple[int, int]]]:
        batches = self.global_batches()
        rng = np.random.default_rng([self.seed, self.epoch, self.K, 1])
        seeds = rng.integers(0, 2 ** 62, size=batches.shape)  # one augmentation seed per global slot
        lo, hi = self.rank * self.P, (self.rank + 1) * self.P
        for b in range(self.start_batch, len(batches)):
            idx = batches[b, lo:hi].reshape(-1).tolist()
            sd = seeds[b, lo:hi].reshape(-1).tolist()
            yield list(zip(idx, sd))
