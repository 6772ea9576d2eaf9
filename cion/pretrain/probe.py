"""Held-out frozen-feature probe: mAP of a backbone on a Market-format folder under the BN rule."""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from reidzoo.bn import reestimate_bn
from reidzoo.evaluation import evaluate
from reidzoo.features import extract_features, load_images


@dataclass
class ProbeSet:
    """Decoded probe images: BN images (the train split) and query / gallery with labels."""

    bn_images: torch.Tensor
    query: torch.Tensor
    gallery: torch.Tensor
    q_pids: np.ndarray
    g_pids: np.ndarray
    q_cams: np.ndarray
    g_cams: np.ndarray


def _decode(paths: Sequence[str], size: Tuple[int, int]) -> torch.Tensor:
    return load_images(paths, {"input_size": (3, int(size[0]), int(size[1]))})


def load_probe(root: str | Path, size: Sequence[int] = (256, 128), max_bn_images: int = 512,
               seed: int = 0) -> ProbeSet:
    """Read a Market-format folder once into tensors at `size` (H, W); BN images are a seeded subset of train."""
    from reidzoo.data import Market1501
    ds = Market1501(root, verify=False)
    train = [p for p, _, _ in ds.train]
    if len(train) > max_bn_images:
        idx = np.random.default_rng(seed).choice(len(train), max_bn_images, replace=False)
        train = [train[i] for i in sorted(idx)]
    hw = (int(size[0]), int(size[1]))
    return ProbeSet(_decode(train, hw), _decode([p for p, _, _ in ds.query], hw),
                    _decode([p for p, _, _ in ds.gallery], hw),
                    np.array([x[1] for x in ds.query]), np.array([x[1] for x in ds.gallery]),
                    np.array([x[2] for x in ds.query]), np.array([x[2] for x in ds.gallery]))


def frozen_map(backbone: nn.Module, probe: ProbeSet, batch_size: int = 64) -> Dict[str, float]:
    """mAP / rank-1 of a copy of `backbone` whose BN statistics are re-estimated on the probe's BN images."""
    model = reestimate_bn(copy.deepcopy(backbone), probe.bn_images, batch_size)
    kw = dict(batch_size=batch_size, normalize=True, progress=False, num_workers=0)
    qf = extract_features(model, probe.query, **kw)
    gf = extract_features(model, probe.gallery, **kw)
    res = evaluate(qf, gf, probe.q_pids, probe.g_pids, probe.q_cams, probe.g_cams)
    return {"mAP": float(res["mAP"]), "rank1": float(res["rank1"])}
