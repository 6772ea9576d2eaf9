"""A feature-level synthetic corpus with known identities, for tests and the scale benchmark.

No images: every crop is a feature vector. People have a prototype; each appearance of a person in
a video shifts it (camera, lighting, pose), each crop adds noise. Tracklets break into fragments,
some crops are junk (background or occluders) and some tracklets switch to another person midway,
which is the noise the three levels must remove. People reappear in videos close in the video
order (same street, later recordings), which is what the level-3 sliding window exploits.
"""
from __future__ import annotations

from typing import Dict

import numpy as np


def make_feature_corpus(n_crops: int = 20000, n_videos: int = 40, tracklets_per_video: int = 20,
                        dim: int = 256, videos_per_person: int = 4, spread: int = 8,
                        fragment_rate: float = 0.3, junk_rate: float = 0.03, switch_rate: float = 0.05,
                        lookalike_rate: float = 0.1, appearance_noise: float = 0.4,
                        crop_noise: float = 0.6, seed: int = 0) -> Dict[str, np.ndarray]:
    """Per-crop arrays `features, video, tracklet, frame, file_path, identity` (identity -1 = junk).

    Sizes: about `tracklets_per_video * n_videos` tracklets and exactly `n_crops` crops.
    Appearance and crop noise are relative to a unit prototype in `dim` dimensions.
    """
    rng = np.random.default_rng(seed)
    # Appearances (person, video): people_per_video chosen so fragments give the tracklet target.
    n_app = max(1, int(round(tracklets_per_video * n_videos / (1 + fragment_rate))))
    n_people = max(1, n_app // videos_per_person)
    home = rng.integers(0, n_videos, n_people)
    app_person = np.repeat(np.arange(n_people), videos_per_person)
    offs = rng.integers(-spread, spread + 1, len(app_person))
    app_video = np.clip(home[app_person] + offs, 0, n_videos - 1)
    # One appearance per (person, video): duplicates collapse.
    key = np.unique(app_person * n_videos + app_video)
    app_person, app_video = key // n_videos, key % n_videos

    proto = rng.standard_normal((n_people, dim)).astype(np.float32)
    # Look-alikes: some people are a near copy of another one (same clothes), the hard negatives.
    twins = np.flatnonzero(rng.random(n_people) < lookalike_rate)
    if len(twins):
        src = rng.integers(0, n_people, len(twins))
        proto[twins] = proto[src] + 0.9 * rng.standard_normal((len(twins), dim)).astype(np.float32)
    proto /= np.linalg.norm(proto, axis=1, keepdims=True)
    app = proto[app_person] + appearance_noise * rng.standard_normal((len(app_person), dim)).astype(np.float32) / np.sqrt(dim)

    # Fragments: an appearance becomes 1 or 2 tracklets over disjoint frame ranges.
    frag = 1 + (rng.random(len(app_person)) < fragment_rate)
    tr_app = np.repeat(np.arange(len(app_person)), frag)
    tr_part = np.concatenate([np.arange(f) for f in frag]) if len(frag) else np.zeros(0, int)
    n_tr = len(tr_app)
    w = rng.gamma(2.0, 1.0, n_tr)
    sizes = np.maximum(1, np.floor(w / w.sum() * n_crops)).astype(np.int64)
    sizes[np.argsort(-w)[: max(0, n_crops - sizes.sum())]] += 1
    while sizes.sum() > n_crops:  # rounding up the 1-crop minimum can overshoot a little
        big = np.argmax(sizes)
        sizes[big] -= min(sizes[big] - 1, sizes.sum() - n_crops)
    row_tr = np.repeat(np.arange(n_tr), sizes)
    offsets = np.cumsum(sizes) - sizes
    within = np.arange(len(row_tr)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    start = rng.integers(0, 2000, len(app_person))
    frame = start[tr_app[row_tr]] + tr_part[row_tr] * (sizes.max() + 5) + within

    row_app = tr_app[row_tr]
    identity = app_person[row_app].copy()
    video = app_video[row_app]
    base = app[row_app]
    # Identity switches: the tail of some tracklets follows another person of the same video.
    switch = np.flatnonzero((rng.random(n_tr) < switch_rate) & (sizes >= 4))
    if len(switch):
        apps_by_video = {}
        for a, v in enumerate(app_video):
            apps_by_video.setdefault(int(v), []).append(a)
        for t in switch:
            own = tr_app[t]
            others = [a for a in apps_by_video[int(app_video[own])] if a != own]
            if not others:
                continue
            other = others[rng.integers(len(others))]
            rows = np.arange(offsets[t], offsets[t] + sizes[t])
            tail = rows[len(rows) - max(1, len(rows) // 4):]
            identity[tail] = app_person[other]
            base[tail] = app[other]
    # In place and in float32: at 1M x 256 every extra temporary costs 1 GiB.
    x = base
    scale = np.float32(crop_noise / np.sqrt(dim))
    for s in range(0, len(x), 65536):
        x[s:s + 65536] += rng.standard_normal((len(x[s:s + 65536]), dim), dtype=np.float32) * scale
    junk = rng.random(len(x)) < junk_rate
    x[junk] = rng.standard_normal((int(junk.sum()), dim), dtype=np.float32)
    identity[junk] = -1
    tracklet = tr_part[row_tr] + 2 * np.arange(n_tr)[row_tr]  # unique within a video (not contiguous)
    names = np.char.add("vid", np.char.zfill(video.astype(str), 5))
    file_path = np.char.add(np.char.add(names, "/"), np.char.zfill(np.arange(len(x)).astype(str), 8))
    return {"features": x, "video": names, "tracklet": tracklet.astype(np.int64),
            "frame": frame.astype(np.int64), "file_path": np.char.add(file_path, ".jpg"),
            "identity": identity.astype(np.int64)}
