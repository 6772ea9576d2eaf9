"""A synthetic re-ID benchmark written in the Market-1501 layout and file naming.

``root/bounding_box_train``, ``root/bounding_box_test`` and ``root/query`` hold 128x64 JPEG crops
named ``PPPP_cCsS_FFFFFF_BB.jpg`` (person, camera, sequence, frame, box), with junk detections
(person ``-1``) and false detections (person ``0000``) in the gallery, as in Market-1501.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import cv2
import numpy as np
from tqdm.auto import tqdm

from .cameras import (Camera, add_noise, encode_jpeg, light, low_resolution, make_camera, motion_blur,
                      render_background)
from .difficulty import PRESETS, Difficulty, harden_camera, resolve_difficulty
from .identities import Identity, make_identity
from .output import atomic_folder, check_seed, check_target
from .render import VIEWS, composite, render_person

CROP_H, CROP_W = 128, 64
TAG_SPLIT, TAG_TRACK, TAG_EXTRA = 31, 32, 33
_SCENE_H, _SCENE_W = 360, 640
# Identity numbers used for occluding passers-by and distractors, far from the benchmark's own.
_STRANGER_BASE = 10_000_000


def _crop_background(scene: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random window of the camera's scene around floor level, resized to the crop size."""
    H, W = scene.shape[:2]
    s = rng.uniform(0.9, 1.6)
    h, w = int(CROP_H * s), int(CROP_W * s)
    y = int(rng.integers(0, H - h + 1))
    x = int(rng.integers(0, W - w + 1))
    return cv2.resize(scene[y:y + h, x:x + w], (CROP_W, CROP_H), interpolation=cv2.INTER_LINEAR_EXACT)


def _occlude(img: np.ndarray, cam: Camera, rng: np.random.Generator, seed: int) -> None:
    """Cover part of the crop by a passer-by or an object (in place)."""
    if rng.random() < 0.5:
        other = make_identity(seed, _STRANGER_BASE + int(rng.integers(0, 1_000_000)))
        sp = render_person(other, int(CROP_H * rng.uniform(0.85, 1.1)), VIEWS[int(rng.integers(3))],
                           float(rng.uniform(0, 2 * math.pi)), int(rng.choice([-1, 1])))
        w = sp.alpha.shape[1]
        side = rng.choice([-1, 1])
        x = int(side * rng.uniform(0.45, 0.75) * CROP_W + (CROP_W - w) / 2)
        composite(img, sp, x, int(rng.integers(-8, 12)))
    else:
        col = tuple(int(v) for v in np.clip(rng.integers(40, 200) + rng.integers(-45, 46, size=3), 0, 255))
        if rng.random() < 0.6:  # a bench, bin or car bonnet in front of the legs
            y = int(CROP_H * rng.uniform(0.55, 0.8))
            cv2.rectangle(img, (0, y), (CROP_W, CROP_H), col, -1)
            cv2.rectangle(img, (0, y), (CROP_W, y + 3), tuple(int(v * 0.6) for v in col), -1)
        else:  # a pole or a sign at one side
            w = int(CROP_W * rng.uniform(0.15, 0.35))
            x = int(rng.choice([0, CROP_W - w]))
            cv2.rectangle(img, (x, 0), (x + w, CROP_H), col, -1)


def render_crop(ident: Identity, cam: Camera, scene: np.ndarray, rng: np.random.Generator, view: str,
                phase: float, facing: int, seed: int, junk: bool = False,
                difficulty: Difficulty = PRESETS["default"]) -> bytes:
    """One detection crop of ``ident`` seen by ``cam``, as JPEG bytes."""
    img = _crop_background(scene, rng)
    if junk:  # a bad detection: the box holds only part of the person
        height = int(CROP_H * rng.uniform(1.3, 2.2))
        dx, dy = rng.uniform(-0.5, 0.5) * CROP_W, -rng.uniform(0.0, 0.6) * height
    else:
        height = int(round(CROP_H * rng.uniform(*difficulty.scale) * ident.height / 1.08))
        dx = rng.normal(0, cam.misalign) * CROP_W
        dy = rng.normal(0, cam.misalign) * CROP_H
    sp = render_person(ident, height, view, phase, facing)
    bx, by, bw, bh = sp.box
    x = int(round((CROP_W - bw) / 2 - bx + dx))
    y = int(round((CROP_H - bh) / 2 - by + dy))
    composite(img, sp, x, y)
    if not junk and rng.random() < cam.occlusion:
        _occlude(img, cam, rng, seed)
    img = light(img, cam, 1.0 + (float(rng.uniform(0.85, 1.15)) - 1.0) * difficulty.camera_shift)
    img = low_resolution(img, float(rng.uniform(*cam.resolution)))
    if rng.random() < cam.blur:
        img = motion_blur(img, int(rng.integers(2, 6)), horizontal=view == "side")
    img = add_noise(img, rng, cam.noise)
    return encode_jpeg(img, int(rng.integers(cam.jpeg[0], cam.jpeg[1] + 1)))


def _background_crop(cam: Camera, scene: np.ndarray, rng: np.random.Generator) -> bytes:
    """A false detection: background only (Market's distractor ``0000`` images)."""
    img = light(_crop_background(scene, rng), cam)
    img = low_resolution(img, float(rng.uniform(*cam.resolution)))
    img = add_noise(img, rng, cam.noise)
    return encode_jpeg(img, int(rng.integers(cam.jpeg[0], cam.jpeg[1] + 1)))


class _Writer:
    """Writes each crop as soon as it is made (memory stays flat for large benchmarks)."""

    def __init__(self, folder: Path):
        self.folder = folder

    def append(self, item: Tuple[str, bytes]) -> None:
        (self.folder / item[0]).write_bytes(item[1])

    def extend(self, items) -> None:
        for item in items:
            self.append(item)


def validate_market_args(n_ids_train: int, n_ids_test: int, cameras: int, images_per_id: int,
                         n_junk: int, n_distractors: int) -> None:
    """Raise ValueError for parameters that cannot make a Market-style benchmark."""
    for name, v in (("n_ids_train", n_ids_train), ("n_ids_test", n_ids_test)):
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {v}")
    if n_ids_train + n_ids_test > 9998:
        raise ValueError(f"n_ids_train + n_ids_test = {n_ids_train + n_ids_test} exceeds 9998, the most "
                         "that 4-digit Market person ids (0001..9999) can name")
    if not 2 <= cameras <= 6:
        raise ValueError(f"cameras must be between 2 and 6 (Market-1501 names cameras c1..c6), got {cameras}")
    if images_per_id < 4:
        raise ValueError(f"images_per_id must be >= 4 (each identity needs 2 cameras x 2 images so every "
                         f"query has a cross-camera match), got {images_per_id}")
    if images_per_id > 500:
        raise ValueError(f"images_per_id must be <= 500, got {images_per_id}")
    if n_junk < 0 or n_distractors < 0:
        raise ValueError(f"n_junk and n_distractors must be >= 0, got {n_junk} and {n_distractors}")


def _split_over_cameras(rng: np.random.Generator, n_images: int, cameras: int) -> Dict[int, int]:
    """How many images an identity has in each of the cameras that saw it (>= 2 cameras, >= 2 each)."""
    most = min(cameras, n_images // 2)
    k = int(rng.integers(2, most + 1))
    cams = sorted(int(c) for c in rng.choice(cameras, size=k, replace=False))
    counts = np.full(k, 2) + rng.multinomial(n_images - 2 * k, np.full(k, 1.0 / k))
    return dict(zip(cams, (int(c) for c in counts)))


def make_market_like(root: Union[str, os.PathLike], n_ids_train: int = 100, n_ids_test: int = 100,
                     cameras: int = 6, images_per_id: int = 10, seed: int = 0, n_junk: Optional[int] = None,
                     n_distractors: Optional[int] = None, identity_offset: int = 0, overwrite: bool = False,
                     progress: bool = True, difficulty: Union[str, Difficulty, None] = None) -> Path:
    """Write a Market-1501-style benchmark of synthetic people to ``root`` and return ``root``.

    Identities ``identity_offset .. + n_ids_train + n_ids_test - 1`` of the world ``seed`` are used;
    the first ``n_ids_train`` go to ``bounding_box_train``, the rest to ``query`` (one image per
    camera and identity) and ``bounding_box_test``. ``n_junk`` (default 5% of the gallery) partial
    crops of test people are named ``-1_...``; ``n_distractors`` (default 10%) background crops
    ``0000_...``. The folder is written atomically; an existing non-empty ``root`` is refused
    unless ``overwrite``. ``difficulty`` is a preset name ("default", "hard") or a `Difficulty`:
    look-alike groups, camera shifts, scale, viewpoint and occlusion (see docs/synthetic.md).
    """
    diff = resolve_difficulty(difficulty)
    test_images = n_ids_test * images_per_id
    n_junk = int(round(0.05 * test_images)) if n_junk is None else n_junk
    n_distractors = int(round(0.1 * test_images)) if n_distractors is None else n_distractors
    validate_market_args(n_ids_train, n_ids_test, cameras, images_per_id, n_junk, n_distractors)
    check_seed(seed, identity_offset)
    check_target(root, overwrite)
    n_ids = n_ids_train + n_ids_test
    cams = [harden_camera(make_camera(seed, c), diff) for c in range(cameras)]
    scenes = [render_background(c, _SCENE_H, _SCENE_W) for c in cams]
    split_rng = np.random.default_rng([seed, TAG_SPLIT, identity_offset, n_ids_train, n_ids_test])
    # Market person ids are 4-digit and not contiguous; assign them in a shuffled order.
    pids = split_rng.choice(np.arange(1, 10000), size=n_ids, replace=False)
    test_set = set(range(n_ids_train, n_ids))
    used_names = set()

    def name(pid: int, cam: int, seq: int, frame: int, box: int) -> str:
        while True:
            p = "-1" if pid < 0 else f"{pid:04d}"
            fn = f"{p}_c{cam + 1}s{seq}_{frame:06d}_{box:02d}.jpg"
            if fn not in used_names:
                used_names.add(fn)
                return fn
            box += 1

    with atomic_folder(root, overwrite) as tmp:
        for sub in ("bounding_box_train", "bounding_box_test", "query"):
            (tmp / sub).mkdir()
        out = _Writer(tmp)
        bar = tqdm(total=n_ids * images_per_id + n_junk + n_distractors, desc="synthetic market",
                   disable=not progress, unit="img")
        for k in range(n_ids):
            ident = make_identity(seed, identity_offset + k, diff.group_size, diff.pattern_share)
            pid = int(pids[k])
            r = np.random.default_rng([seed, TAG_TRACK, identity_offset + k])
            per_cam = _split_over_cameras(r, images_per_id, cameras)
            for c, count in per_cam.items():
                cam = cams[c]
                # One walk past the camera: a fixed direction, the gait phase advancing frame by frame.
                view = VIEWS[int(r.choice(3, p=np.array(cam.views) / sum(cam.views)))]
                facing = int(r.choice([-1, 1]))
                seq = int(r.integers(1, 7))
                frame = int(r.integers(1, 150_000))
                phase = float(r.uniform(0, 2 * math.pi))
                files = []
                for j in range(count):
                    if r.random() < 0.15:  # people turn: some crops of a walk show another side
                        v = VIEWS[int(r.integers(3))]
                    else:
                        v = view
                    data = render_crop(ident, cam, scenes[c], r, v, phase, facing, seed, difficulty=diff)
                    files.append((name(pid, c, seq, frame, 1), data))
                    step = int(r.integers(4, 30))
                    frame += step
                    phase += 0.35 * step
                    bar.update(1)
                if k in test_set:
                    q = int(r.integers(len(files)))
                    out.append((f"query/{files[q][0]}", files[q][1]))
                    out.extend((f"bounding_box_test/{fn}", d) for i, (fn, d) in enumerate(files) if i != q)
                else:
                    out.extend((f"bounding_box_train/{fn}", d) for fn, d in files)
        er = np.random.default_rng([seed, TAG_EXTRA, identity_offset])
        for _ in range(n_junk):
            k = int(er.integers(n_ids_train, n_ids))
            c = int(er.integers(cameras))
            data = render_crop(make_identity(seed, identity_offset + k, diff.group_size, diff.pattern_share), cams[c],
                               scenes[c], er, VIEWS[int(er.integers(3))], float(er.uniform(0, 6.3)),
                               int(er.choice([-1, 1])), seed, junk=True, difficulty=diff)
            out.append((f"bounding_box_test/{name(-1, c, int(er.integers(1, 7)), int(er.integers(1, 150_000)), 1)}", data))
            bar.update(1)
        for _ in range(n_distractors):
            c = int(er.integers(cameras))
            data = _background_crop(cams[c], scenes[c], er)
            out.append((f"bounding_box_test/{name(0, c, int(er.integers(1, 7)), int(er.integers(1, 150_000)), 1)}", data))
            bar.update(1)
        bar.close()
        meta = {"generator": "reidzoo.data.synthetic.make_market_like", "version": 1, "seed": seed,
                "n_ids_train": n_ids_train, "n_ids_test": n_ids_test, "cameras": cameras,
                "images_per_id": images_per_id, "n_junk": n_junk, "n_distractors": n_distractors,
                "identity_offset": identity_offset, "image_size": [CROP_H, CROP_W],
                "difficulty": diff.to_dict(),
                "pid_to_identity": {f"{int(p):04d}": identity_offset + k for k, p in enumerate(pids)}}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return Path(root)
