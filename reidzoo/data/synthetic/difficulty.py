"""How hard a synthetic benchmark is: look-alike groups, camera shifts, scale, viewpoint, occlusion.

A `Difficulty` is plain data. ``Difficulty()`` (preset "default") reproduces the original
benchmark byte for byte; every other setting only rescales values that are drawn anyway, so a
harder benchmark draws the same random numbers and differs only in how strongly they act.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Dict, Optional, Tuple, Union

import numpy as np

from .cameras import Camera


@dataclass(frozen=True)
class Difficulty:
    """Knobs of the benchmark generator; the defaults are the original benchmark."""

    group_size: int = 3                 # identities per look-alike group (same garment colours)
    pattern_share: float = 0.0          # chance a group member also wears the group's pattern and accent
    camera_shift: float = 1.0           # scales each camera's colour cast and brightness error, and per-crop light
    resolution: float = 1.0             # multiplies each camera's effective-resolution range (lower = blurrier)
    blur: Optional[float] = None        # motion-blur probability per crop (None: the camera's own, 0.05-0.4)
    scale: Tuple[float, float] = (0.9, 1.0)  # person height as a fraction of the crop height
    misalign: float = 1.0               # multiplies each camera's box misalignment
    view_sharpness: float = 1.0         # exponent on each camera's view mix (> 1: a camera sees mostly one side)
    occlusion: Optional[float] = None   # occlusion probability per crop (None: the camera's own, 0.1-0.3)

    def __post_init__(self) -> None:
        if int(self.group_size) != self.group_size or self.group_size < 1:
            raise ValueError(f"group_size must be a whole number >= 1, got {self.group_size}")
        for name in ("pattern_share", "blur", "occlusion"):
            v = getattr(self, name)
            if v is not None and not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {v}")
        lo, hi = self.scale
        if not 0.3 <= lo <= hi <= 1.2:
            raise ValueError(f"scale must be (low, high) with 0.3 <= low <= high <= 1.2, got {self.scale}")
        for name in ("camera_shift", "resolution", "misalign", "view_sharpness"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")

    def to_dict(self) -> Dict:
        """JSON-friendly plain dict (for meta.json)."""
        d = asdict(self)
        d["scale"] = list(d["scale"])
        return d


PRESETS: Dict[str, Difficulty] = {
    "default": Difficulty(),
    # Look-alike groups of 6 that mostly share their pattern too, strong per-camera colour casts,
    # lower resolution, frequent blur, people at varied scale and off-centre, cameras that each see
    # mostly one side of a person, and half of the crops occluded.
    "hard": Difficulty(group_size=6, pattern_share=0.7, camera_shift=2.5, resolution=0.7, blur=0.5,
                       scale=(0.7, 1.0), misalign=1.8, view_sharpness=3.0, occlusion=0.45),
}


def resolve_difficulty(difficulty: Union[str, Difficulty, None]) -> Difficulty:
    """A preset name ("default", "hard") or a Difficulty; None is the default."""
    if difficulty is None:
        return PRESETS["default"]
    if isinstance(difficulty, Difficulty):
        return difficulty
    if difficulty not in PRESETS:
        raise ValueError(f"unknown difficulty {difficulty!r}; presets: {', '.join(PRESETS)}")
    return PRESETS[difficulty]


def harden_camera(cam: Camera, d: Difficulty) -> Camera:
    """The camera with the difficulty's shifts applied (the identity for the default)."""
    if d == PRESETS["default"]:
        return cam
    views = np.asarray(cam.views, np.float64) ** d.view_sharpness
    lo, hi = cam.resolution
    return replace(
        cam,
        gain=float(max(0.35, 1.0 + (cam.gain - 1.0) * d.camera_shift)),
        cast=tuple(float(max(0.35, 1.0 + (c - 1.0) * d.camera_shift)) for c in cam.cast),
        resolution=(max(0.12, lo * d.resolution), max(0.12, min(1.0, hi * d.resolution))),
        blur=cam.blur if d.blur is None else d.blur,
        occlusion=cam.occlusion if d.occlusion is None else d.occlusion,
        misalign=cam.misalign * d.misalign,
        views=tuple(float(v) for v in views / views.sum()),
    )
