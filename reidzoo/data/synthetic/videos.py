"""Surveillance-like clips of synthetic people with MOTChallenge ground truth and global identities.

Each video is one fixed camera (its own scene, light and colour cast). People enter from the
frame edges, walk straight across the floor at their own speed, get larger as they come closer
(perspective), occlude each other (nearer people, lower in the image, are drawn last) and leave.
The same global identity is deliberately placed in several videos. Layout written to ``root``::

    videos/vid000.avi         MJPG, OpenCV-readable
    gt/vid000/gt.txt          frame,id,x,y,w,h,1,-1,-1,-1 (1-based frames, track ids per video)
    identities.json           {"vid000": {"1": 17, ...}, ...}  track id -> global identity
    meta.json                 generation parameters
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from tqdm.auto import tqdm

from .cameras import Camera, light, make_camera, render_background
from .identities import make_identity
from .output import atomic_folder, check_seed, check_target
from .render import composite, render_person

TAG_VIDEO, TAG_CAST, TAG_PATH, TAG_NOISE, TAG_POLE = 41, 42, 43, 44, 45
VIDEO_CAMERA_BASE = 1000  # video cameras are distinct from the benchmark's cameras c1..c6
MIN_VISIBLE_FRACTION = 0.2  # a gt row is written while at least this much of the box is in frame
FOURCC = "MJPG"


@dataclass
class Walk:
    """One person's straight walk through a video: foot positions per step of the path."""

    track_id: int
    identity: int
    start: int                 # video frame index (0-based) of the first path step; may be negative
    feet: np.ndarray           # (T, 2) float foot positions (x, y) in pixels
    heights: np.ndarray        # (T,) person heights in pixels
    phases: np.ndarray         # (T,) gait phases
    view: str
    facing: int


@dataclass
class VideoPlan:
    """Everything needed to render one video, decided before any pixel is drawn."""

    name: str
    camera: Camera
    width: int
    height: int
    frames: int
    pool: int = 0              # size of the identity pool shared by all videos
    walks: List[Walk] = field(default_factory=list)


def _person_height(cam: Camera, y: float, height: int) -> float:
    """Perspective: people are taller the lower their feet are in the image."""
    hy = cam.horizon * height
    return max(0.0, (y - hy) / (height - hy)) * 0.5 * height


def _plan_walk(cam: Camera, width: int, height: int, frames: int, r: np.random.Generator, ident_speed: float,
               ident_stride: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray, str, int]:
    """A straight walk that enters and leaves through the left, right or bottom edge."""
    hy = cam.horizon * height
    y_lo, y_hi = hy + 0.22 * (height - hy), height + 0.25 * (height - hy)

    def edge_point(edge: str) -> Tuple[float, float]:
        if edge == "bottom":
            y = height + 0.5 * height * 1.1  # far enough below for the whole body to be out
            return float(r.uniform(0.1, 0.9) * width), y
        y = float(r.uniform(y_lo, min(y_hi, height * 0.98)))
        margin = 0.25 * _person_height(cam, y, height) + 4
        return (-margin if edge == "left" else width + margin), y

    kind = r.random()
    if kind < 0.6:
        a, b = ("left", "right") if r.random() < 0.5 else ("right", "left")
    elif kind < 0.8:
        a, b = "bottom", ("left" if r.random() < 0.5 else "right")
    else:
        a, b = ("left" if r.random() < 0.5 else "right"), "bottom"
    p0, p1 = np.array(edge_point(a)), np.array(edge_point(b))
    d = p1 - p0
    # Motion in depth looks shorter in the image than motion across it.
    if abs(d[0]) >= 1.3 * abs(d[1]):
        view, facing = "side", (1 if d[0] > 0 else -1)
    else:
        view, facing = ("front" if d[1] > 0 else "back"), 1
    unit = d / np.linalg.norm(d)
    feet, heights, phases = [], [], []
    pos, phase = p0.copy(), float(r.uniform(0, 2 * math.pi))
    speed = 0.028 * ident_speed * r.uniform(0.85, 1.15)  # body heights per frame (~1.2 m/s at 25 fps)
    total = float(np.linalg.norm(d))
    travelled = 0.0
    while travelled <= total and len(feet) < 20 * frames + 100:
        h = max(_person_height(cam, pos[1], height), 8.0)
        feet.append(pos.copy())
        heights.append(h)
        phases.append(phase)
        step = speed * h
        pos = pos + unit * step
        travelled += step
        phase += math.pi * step / (0.38 * h) * (0.35 / max(ident_stride, 1e-3)) ** 0.5
    return np.array(feet), np.array(heights), np.array(phases), view, facing


def _visible_box(foot: np.ndarray, h: float, sprite_box: Tuple[int, int, int, int], sprite_shape: Tuple[int, int],
                 width: int, height: int) -> Tuple[int, int, Tuple[int, int, int, int], float]:
    """Sprite placement (x, y), the body box clipped to the frame and the fraction inside it."""
    sh, sw = sprite_shape
    x = int(round(foot[0] - sw / 2))
    y = int(round(foot[1] - sh))
    bx, by, bw, bh = sprite_box
    x0, y0, x1, y1 = x + bx, y + by, x + bx + bw, y + by + bh
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if cx1 <= cx0 or cy1 <= cy0:
        return x, y, (0, 0, 0, 0), 0.0
    frac = (cx1 - cx0) * (cy1 - cy0) / float(bw * bh)
    return x, y, (cx0, cy0, cx1 - cx0, cy1 - cy0), frac


def _assign_identities(n_videos: int, counts: Sequence[int], pool: int, r: np.random.Generator) -> List[List[int]]:
    """Give each video ``counts[v]`` distinct identities, spreading the pool evenly over videos."""
    used = np.zeros(pool, np.int64)
    out = []
    for v in range(n_videos):
        tie = r.random(pool)
        order = np.lexsort((tie, used))  # least-used identities first, random among equals
        chosen = sorted(int(i) for i in order[:counts[v]])
        used[chosen] += 1
        out.append(chosen)
    return out


def plan_videos(n_videos: int, people_per_video: Union[int, Tuple[int, int]], frames: int, seed: int,
                width: int = 640, height: int = 360, n_identities: Optional[int] = None,
                identity_offset: int = 0) -> List[VideoPlan]:
    """Decide cameras, people and their walks for every video (validates the parameters)."""
    lo, hi = (people_per_video, people_per_video) if np.isscalar(people_per_video) else tuple(people_per_video)
    validate_video_args(n_videos, (lo, hi), frames, width, height, n_identities)
    check_seed(seed, identity_offset)
    r = np.random.default_rng([seed, TAG_VIDEO, n_videos, frames])
    counts = [int(r.integers(lo, hi + 1)) for _ in range(n_videos)]
    pool = n_identities if n_identities is not None else default_pool(counts)
    if pool < max(counts):
        raise ValueError(f"n_identities={pool} is smaller than the {max(counts)} people of one video; "
                         "each person in a video is a different identity")
    members = _assign_identities(n_videos, counts, pool, r)
    plans = []
    for v in range(n_videos):
        cam = make_camera(seed, VIDEO_CAMERA_BASE + v)
        plan = VideoPlan(name=f"vid{v:03d}", camera=cam, width=width, height=height, frames=frames, pool=pool)
        pr = np.random.default_rng([seed, TAG_PATH, v])
        for t, k in enumerate(members[v]):
            gid = identity_offset + k
            ident = make_identity(seed, gid)
            feet, heights, phases, view, facing = _plan_walk(cam, width, height, frames, pr, ident.speed, ident.stride)
            n = len(feet)
            # Enter anywhere from "already half-way" to "enters near the end", so people come and go.
            lo_s = -int(0.5 * n)
            hi_s = max(lo_s + 1, frames - max(8, int(0.5 * min(n, frames))))
            start = int(pr.integers(lo_s, hi_s))
            plan.walks.append(Walk(t + 1, gid, start, feet, heights, phases, view, facing))
        plans.append(plan)
    return plans


def default_pool(counts: Sequence[int], appearances: int = 3) -> int:
    """Identity pool size so that each identity appears in about ``appearances`` videos."""
    return max(max(counts), int(math.ceil(sum(counts) / min(appearances, len(counts)))))


def validate_video_args(n_videos: int, people: Tuple[int, int], frames: int, width: int, height: int,
                        n_identities: Optional[int]) -> None:
    """Raise ValueError for parameters that cannot make a video set."""
    if int(n_videos) != n_videos or n_videos < 1:
        raise ValueError(f"n_videos must be a whole number >= 1, got {n_videos}")
    lo, hi = people
    if lo < 1 or hi < lo:
        raise ValueError(f"people_per_video must be >= 1 (an int or a (min, max) pair with min <= max), got {people}")
    if hi > 50:
        raise ValueError(f"people_per_video must be <= 50, got {hi}")
    if frames < 2:
        raise ValueError(f"frames must be >= 2, got {frames}")
    if width < 64 or height < 64 or width > 4096 or height > 4096:
        raise ValueError(f"width and height must be between 64 and 4096 pixels, got {width}x{height}")
    if width % 2 or height % 2:
        raise ValueError(f"width and height must be even (video codecs need it), got {width}x{height}")
    if n_identities is not None and n_identities < hi:
        raise ValueError(f"n_identities={n_identities} is smaller than people_per_video={hi}; "
                         "each person in a video is a different identity")


def render_frames(plan: VideoPlan, seed: int) -> Iterator[Tuple[np.ndarray, List[Tuple[int, Tuple[int, int, int, int], float]]]]:
    """Yield (BGR frame, [(track id, clipped box x,y,w,h, fraction of the box in frame)]) per frame."""
    W, H, cam = plan.width, plan.height, plan.camera
    scene = render_background(cam, H, W)
    pr = np.random.default_rng([seed, TAG_POLE, cam.index])
    poles = []  # foreground posts that hide people walking behind them
    for _ in range(int(pr.integers(0, 3))):
        pw = int(W * pr.uniform(0.01, 0.03))
        px = int(pr.integers(0, W - pw))
        poles.append((px, pw, tuple(int(v) for v in pr.integers(30, 200, size=3))))
    nr = np.random.default_rng([seed, TAG_NOISE, cam.index])
    noise_fields = [nr.integers(-cam.noise, cam.noise + 1, size=(H, W, 3), dtype=np.int16) for _ in range(4)]
    for f in range(plan.frames):
        frame = scene.copy()
        present = []
        for w in plan.walks:
            k = f - w.start
            if 0 <= k < len(w.feet):
                present.append((w.feet[k][1], w.track_id, w, k))
        rows = []
        for _, _, w, k in sorted(present, key=lambda p: (p[0], p[1])):  # far (high in image) first
            h = int(round(w.heights[k]))
            if h < 8:
                continue
            sp = render_person(make_identity(seed, w.identity), h, w.view, float(w.phases[k]), w.facing)
            x, y, box, frac = _visible_box(w.feet[k], h, sp.box, sp.alpha.shape, W, H)
            composite(frame, sp, x, y)
            rows.append((w.track_id, box, frac))
        for px, pw, col in poles:
            cv2.rectangle(frame, (px, 0), (px + pw, H), col, -1)
        frame = light(frame, cam)
        frame = np.clip(frame.astype(np.int16) + noise_fields[f % len(noise_fields)], 0, 255).astype(np.uint8)
        yield frame, sorted(rows)


def gt_rows(records: Dict[int, List[Tuple[int, Tuple[int, int, int, int], float]]]) -> List[Tuple[int, int, int, int, int, int]]:
    """MOT rows (frame, id, x, y, w, h), one unbroken run per track.

    A track starts at the first frame with at least ``MIN_VISIBLE_FRACTION`` of its box inside the
    frame and ends at the last such frame; deciding on the run rather than per frame keeps the
    swinging legs at the frame edge from switching a row on and off.
    """
    out = []
    for tid, recs in records.items():
        good = [f for f, box, frac in recs if frac >= MIN_VISIBLE_FRACTION and box[2] >= 2 and box[3] >= 2]
        if not good:
            continue
        first, last = min(good), max(good)
        out.extend((f, tid) + tuple(box) for f, box, _ in recs if first <= f <= last)
    return sorted(out, key=lambda r: (r[1], r[0]))


def _write_video(path: Path, frames: Iterator[np.ndarray], fps: float, size: Tuple[int, int]) -> int:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*FOURCC), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {FOURCC} video to {path}; check the OpenCV build (FFmpeg)")
    n = 0
    try:
        for fr in frames:
            writer.write(fr)
            n += 1
    finally:
        writer.release()
    return n


def make_videos(root: Union[str, os.PathLike], n_videos: int = 4, people_per_video: Union[int, Tuple[int, int]] = (2, 6),
                frames: int = 300, seed: int = 0, width: int = 640, height: int = 360, fps: float = 25.0,
                n_identities: Optional[int] = None, identity_offset: int = 0, overwrite: bool = False,
                progress: bool = True) -> Path:
    """Render ``n_videos`` clips with ground truth to ``root`` (see the module docstring) and return it.

    ``people_per_video`` is a count or a (min, max) range. Identities come from a pool of
    ``n_identities`` (default: enough for each to appear in about 3 videos) numbered from
    ``identity_offset`` in the world ``seed`` (the same people as ``make_market_like`` with the
    same seed and offset). Written atomically; a non-empty ``root`` is refused unless ``overwrite``.
    """
    plans = plan_videos(n_videos, people_per_video, frames, seed, width, height, n_identities, identity_offset)
    check_target(root, overwrite)
    identities: Dict[str, Dict[str, int]] = {}
    with atomic_folder(root, overwrite) as tmp:
        (tmp / "videos").mkdir()
        bar = tqdm(total=n_videos * frames, desc="synthetic videos", unit="frame", disable=not progress)
        for plan in plans:
            gt_dir = tmp / "gt" / plan.name
            gt_dir.mkdir(parents=True)
            records: Dict[int, list] = {}

            def frames_of(plan=plan, records=records):
                for f, (img, rows) in enumerate(render_frames(plan, seed)):
                    for tid, box, frac in rows:
                        records.setdefault(tid, []).append((f + 1, box, frac))
                    bar.update(1)
                    yield img

            _write_video(tmp / "videos" / f"{plan.name}.avi", frames_of(), fps, (width, height))
            rows = gt_rows(records)  # MOTChallenge order: by track id, then frame
            (gt_dir / "gt.txt").write_text("".join(f"{f},{t},{x},{y},{w},{h},1,-1,-1,-1\n" for f, t, x, y, w, h in rows))
            visible = {r[1] for r in rows}
            identities[plan.name] = {str(w.track_id): w.identity for w in plan.walks if w.track_id in visible}
        bar.close()
        (tmp / "identities.json").write_text(json.dumps(identities, indent=1) + "\n")
        meta = {"generator": "reidzoo.data.synthetic.make_videos", "version": 1, "seed": seed,
                "n_videos": n_videos, "people_per_video": list(people_per_video) if not np.isscalar(people_per_video)
                else people_per_video, "frames": frames, "fps": fps, "width": width, "height": height,
                "codec": FOURCC, "n_identities": plans[0].pool,
                "identity_offset": identity_offset, "min_visible_fraction": MIN_VISIBLE_FRACTION,
                "videos": [p.name for p in plans]}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return Path(root)


def gt_detections(world: Union[str, os.PathLike], out: Union[str, os.PathLike]) -> Path:
    """One MOTChallenge det.txt per video of a `make_videos` world from its ground-truth boxes.

    Perfect boxes (score 1, ids dropped) take the detector out of a measurement: the mining
    stage's tracker, purity filters and crop sampling still run, so tracklets still fragment.
    Returns `out`, ready for the file detector (`--detector file --detections OUT`).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for gt in sorted((Path(world) / "gt").glob("*/gt.txt")):
        rows = [line.split(",") for line in gt.read_text().splitlines() if line.strip()]
        # rewritten whole on every call, so a file torn by a crash never outlives the next call
        (out / f"{gt.parent.name}.txt").write_text(
            "".join(f"{r[0]},-1,{r[2]},{r[3]},{r[4]},{r[5]},1.0,-1,-1,-1\n" for r in rows))
    return out
