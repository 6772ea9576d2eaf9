"""Synthetic re-ID features with MSMT17/Market-like structure, for the evaluator benchmark."""
from __future__ import annotations

import numpy as np

# (queries, gallery, identities, cameras) of the real sets; Market's gallery counts distractors.
SCALES = {
    "msmt17": (11659, 82161, 3060, 15),
    "market1501": (3368, 15913, 751, 6),
}
# MSMT17 is the harder set: stronger nuisances give mAP ~0.6-0.7 as for good real models
NOISE = {"msmt17": 1.1, "market1501": 0.95}


def make_features(scale: str = "msmt17", dim: int = 768, seed: int = 0, id_rank: int = 96,
                  cam_strength: float = 0.6, noise: float = 0.0, nuisance_rank: int = 48):
    """Return (qf, gf, q_pids, g_pids, q_camids, g_camids) with a realistic mAP (~0.5-0.7).

    Identity centres live near a low-rank subspace plus a shared offset, so negatives are not all
    orthogonal (as with real CNN features, whose cosine similarities spread around 0.2-0.5), and a
    per-camera offset makes cross-camera matches harder than same-camera ones.
    """
    nq, ng, nids, ncams = SCALES[scale]
    noise = noise or NOISE[scale]
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((id_rank, dim)).astype(np.float32) / np.sqrt(id_rank)
    shared = rng.standard_normal(dim).astype(np.float32) / np.sqrt(dim) * 0.8
    centres = rng.standard_normal((nids, id_rank)).astype(np.float32) @ basis
    centres += 0.35 * rng.standard_normal((nids, dim)).astype(np.float32) / np.sqrt(dim)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    centres += shared
    cams = rng.standard_normal((ncams, dim)).astype(np.float32) / np.sqrt(dim) * cam_strength
    # pose/occlusion/background nuisances are low-rank, so they move similarities a lot (as in real
    # features), unlike isotropic noise whose dot products vanish in 768 dimensions
    nuisance = rng.standard_normal((nuisance_rank, dim)).astype(np.float32) / np.sqrt(dim)
    # every identity is seen by 2..5 cameras; queries and gallery draw from those cameras
    id_cams = np.argsort(rng.random((nids, ncams)), axis=1)[:, :5]
    id_ncams = rng.integers(2, 6, size=nids)

    def draw(n: int, start: int):
        pids = (np.arange(n) + start) % nids
        rng.shuffle(pids)
        pick = (rng.random(n) * id_ncams[pids]).astype(np.int64)
        camids = id_cams[pids, pick].astype(np.int64)
        x = centres[pids] + cams[camids]
        x += noise * rng.standard_normal((n, nuisance_rank)).astype(np.float32) @ nuisance / np.sqrt(nuisance_rank)
        x += 0.3 * rng.standard_normal((n, dim)).astype(np.float32) / np.sqrt(dim)
        return x.astype(np.float32), pids.astype(np.int64), camids

    qf, q_pids, q_camids = draw(nq, 0)
    gf, g_pids, g_camids = draw(ng, nq % nids)
    return qf, gf, q_pids, g_pids, q_camids, g_camids


def write_npz(path: str, scale: str = "msmt17", dim: int = 768, seed: int = 0) -> str:
    """Write the features as the `reidzoo evaluate --features` npz file (atomically)."""
    from reidzoo.evaluation.report import FEATURE_KEYS, write_features
    return write_features(path, **dict(zip(FEATURE_KEYS, make_features(scale, dim, seed))))
