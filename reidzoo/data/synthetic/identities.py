"""Seeded synthetic people: appearance attributes that persist across cameras and videos.

Every identity is a pure function of ``(seed, index)``, so the same global identity looks the
same in a benchmark image and in a video. Consecutive identities are grouped into look-alike
groups that share clothing colours and differ in pattern, accessories, hair or shoes, so that
colour alone cannot tell them apart (as in real crowds, where dark jackets and jeans dominate).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import List, Optional, Tuple

import numpy as np

BGR = Tuple[int, int, int]

# Stream tags for np.random.default_rng([seed, TAG, index]): independent, order-free streams.
TAG_IDENTITY, TAG_GROUP, TAG_SHARE = 11, 12, 13

UPPER_PATTERNS = ("solid", "stripes", "checks", "print", "logo")
LOWER_STYLES = ("trousers", "shorts", "skirt")
HAIR_STYLES = ("short", "long", "bald", "ponytail")

# Clothing colours (BGR) with weights: dark and neutral garments dominate, as in street scenes.
_CLOTHING = np.array([
    (25, 25, 25), (45, 40, 40), (90, 90, 90), (150, 150, 150), (225, 225, 225),  # black..white
    (90, 40, 20), (150, 80, 30), (200, 150, 90),                                   # navy, blue, light blue
    (40, 40, 170), (70, 30, 120), (120, 100, 230),                                 # red, burgundy, pink
    (40, 110, 40), (70, 120, 110), (40, 170, 200),                                 # green, olive, yellow
    (60, 90, 140), (120, 170, 200), (30, 60, 100), (140, 80, 120),                  # tan, beige, brown, purple
], dtype=np.int32)
_CLOTHING_W = np.array([9, 7, 5, 3, 4, 7, 5, 3, 3, 2, 2, 2, 2, 1, 2, 3, 3, 1], dtype=np.float64)
_CLOTHING_W /= _CLOTHING_W.sum()
_SKIN = np.array([(200, 215, 245), (165, 190, 230), (120, 160, 215), (85, 120, 175), (55, 80, 120)], np.int32)
_HAIR = np.array([(20, 20, 25), (30, 45, 70), (50, 80, 120), (100, 160, 200), (160, 160, 165)], np.int32)
_HAIR_W = np.array([6, 4, 3, 1, 1], dtype=np.float64)
_HAIR_W /= _HAIR_W.sum()


@dataclass(frozen=True)
class Identity:
    """Everything that makes one synthetic person recognisable, independent of camera and pose."""

    index: int
    group: int
    height: float          # relative body height (1.0 = typical)
    build: float           # relative shoulder/hip width
    head: float            # relative head size
    skin: BGR
    hair: BGR
    hair_style: str
    upper: BGR
    upper_pattern: str
    upper_accent: BGR      # stripe / check / print / logo colour
    pattern_period: float  # stripe/check period as a fraction of body height
    long_sleeves: bool
    logo_shape: int        # 0 circle, 1 square, 2 triangle (front only)
    lower: BGR
    lower_style: str
    shoes: BGR
    backpack: Optional[BGR]
    bag: Optional[BGR]     # shoulder bag colour
    bag_side: int          # +1 on the person's right, -1 on the left
    hat: Optional[BGR]
    stride: float          # gait amplitude (radians of leg swing)
    speed: float           # relative walking speed
    print_seed: int        # makes the "print" pattern unique to the identity


def _jitter(rng: np.random.Generator, colour: np.ndarray, amount: int) -> BGR:
    c = colour + rng.integers(-amount, amount + 1, size=3)
    return tuple(int(v) for v in np.clip(c, 0, 255))


def _pick(rng: np.random.Generator, table: np.ndarray, weights: Optional[np.ndarray] = None) -> np.ndarray:
    return table[rng.choice(len(table), p=weights)]


def make_identity(seed: int, index: int, group_size: int = 3, pattern_share: float = 0.0) -> Identity:
    """The identity number ``index`` of the world ``seed`` (look-alike group = index // group_size).

    With ``pattern_share`` > 0 a member also wears the group's upper-body pattern, its accent
    colour and period with that probability, so look-alikes differ only in accessories, hair,
    shoes, sleeves, trousers and build."""
    if index < 0:
        raise ValueError(f"identity index must be >= 0, got {index}")
    ident = _make_identity(seed, index, group_size)
    if pattern_share <= 0:
        return ident
    # Own streams, drawn after everything else: the identity's other attributes stay as they were.
    g = np.random.default_rng([seed, TAG_GROUP, ident.group, TAG_SHARE])
    if np.random.default_rng([seed, TAG_SHARE, index]).random() >= pattern_share:
        return ident
    pattern = UPPER_PATTERNS[g.choice(5, p=[0.3, 0.2, 0.15, 0.15, 0.2])]
    accent = np.array(ident.upper_accent) if pattern == "solid" else _pick(g, _CLOTHING)
    upper = np.array(ident.upper)
    if np.abs(accent - upper).sum() < 90:
        accent = np.where(upper > 128, upper - 110, upper + 110)
    return replace(ident, upper_pattern=pattern, upper_accent=tuple(int(v) for v in np.clip(accent, 0, 255)),
                   pattern_period=float(g.uniform(0.035, 0.07)), logo_shape=int(g.integers(0, 3)),
                   print_seed=int(g.integers(0, 2**31 - 1)))


def _make_identity(seed: int, index: int, group_size: int) -> Identity:
    group = index // max(1, group_size)
    g = np.random.default_rng([seed, TAG_GROUP, group])
    # The group shares its garment colours; members differ in what colour cannot capture.
    upper_base, lower_base = _pick(g, _CLOTHING, _CLOTHING_W), _pick(g, _CLOTHING, _CLOTHING_W)
    accent_base = _pick(g, _CLOTHING)
    r = np.random.default_rng([seed, TAG_IDENTITY, index])
    upper_pattern = UPPER_PATTERNS[r.choice(5, p=[0.3, 0.2, 0.15, 0.15, 0.2])]
    accent = accent_base if r.random() < 0.5 else _pick(r, _CLOTHING)
    if np.abs(accent - upper_base).sum() < 90:  # a pattern must show against its garment
        accent = np.where(upper_base > 128, upper_base - 110, upper_base + 110)
    return Identity(
        index=index, group=group,
        height=float(r.uniform(0.9, 1.08)), build=float(r.uniform(0.95, 1.3)),
        head=float(r.uniform(0.9, 1.1)),
        skin=_jitter(r, _pick(r, _SKIN), 10), hair=_jitter(r, _pick(r, _HAIR, _HAIR_W), 8),
        hair_style=HAIR_STYLES[r.choice(4, p=[0.45, 0.3, 0.1, 0.15])],
        upper=_jitter(r, upper_base, 12), upper_pattern=upper_pattern,
        upper_accent=_jitter(r, accent, 10), pattern_period=float(r.uniform(0.035, 0.07)),
        long_sleeves=bool(r.random() < 0.6), logo_shape=int(r.integers(0, 3)),
        lower=_jitter(r, lower_base, 12),
        lower_style=LOWER_STYLES[r.choice(3, p=[0.7, 0.18, 0.12])],
        shoes=_jitter(r, _pick(r, _CLOTHING, _CLOTHING_W), 10),
        backpack=_jitter(r, _pick(r, _CLOTHING), 10) if r.random() < 0.35 else None,
        bag=_jitter(r, _pick(r, _CLOTHING), 10) if r.random() < 0.3 else None,
        bag_side=int(r.choice([-1, 1])),
        hat=_jitter(r, _pick(r, _CLOTHING), 10) if r.random() < 0.15 else None,
        stride=float(r.uniform(0.25, 0.45)), speed=float(r.uniform(0.8, 1.25)),
        print_seed=int(r.integers(0, 2**31 - 1)),
    )


def make_identities(seed: int, n: int, start: int = 0, group_size: int = 3,
                    pattern_share: float = 0.0) -> List[Identity]:
    """Identities ``start .. start+n-1`` of the world ``seed``."""
    if n < 0:
        raise ValueError(f"number of identities must be >= 0, got {n}")
    return [make_identity(seed, start + i, group_size, pattern_share) for i in range(n)]
