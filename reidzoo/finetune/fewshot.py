"""The few-shot fine-tuning protocol: train on a seeded subset of the train identities."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np

Item = Tuple[str, int, int]
TAG_FEW_SHOT = 41


def few_shot_identities(items: Sequence[Item], fraction: Optional[float] = None, count: Optional[int] = None,
                        seed: int = 0) -> List[Item]:
    """The items of a seeded random subset of identities: ``count`` of them, or ``fraction`` of all.

    The subset depends only on (seed, the set of identities), so every initialisation compared at a
    seed trains on the same people. With neither option all items are returned unchanged.
    """
    if fraction is not None and count is not None:
        raise ValueError("give train_fraction or train_ids, not both")
    pids = sorted({pid for _, pid, _ in items})
    if fraction is None and count is None:
        return list(items)
    if fraction is not None:
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"train_fraction must be in (0, 1], got {fraction}")
        count = max(1, int(round(fraction * len(pids))))
    if int(count) != count or not 1 <= count <= len(pids):
        raise ValueError(f"train_ids must be a whole number between 1 and {len(pids)} (the train identities), "
                         f"got {count}")
    rng = np.random.default_rng([seed, TAG_FEW_SHOT])
    keep = {pids[i] for i in rng.choice(len(pids), size=int(count), replace=False)}
    return [it for it in items if it[1] in keep]
