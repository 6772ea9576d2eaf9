"""Draw one synthetic person (front, back or side view, any walking phase) with OpenCV primitives.

The person is drawn at twice the requested size and halved with a bit-exact resize, which gives
soft, premultiplied edges (``Sprite.alpha``) without per-pixel Python work. Only integer pixel
operations and OpenCV's bit-exact paths are used, so a sprite is identical on every machine.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Tuple

import cv2
import numpy as np

from .identities import Identity

VIEWS = ("front", "back", "side")
_SS = 2  # supersampling factor


@dataclass
class Sprite:
    """A rendered person: premultiplied colour, alpha (0..255) and the tight box of the body."""

    image: np.ndarray   # (H, W, 3) uint8, colour already multiplied by alpha
    alpha: np.ndarray   # (H, W) uint8
    box: Tuple[int, int, int, int]  # x, y, w, h of alpha > 0 inside the sprite


def _shade(c: Sequence[int], f: float) -> Tuple[int, int, int]:
    return tuple(int(min(255, round(v * f))) for v in c)


class _Canvas:
    """Draws each primitive on the colour image and on the coverage mask at once."""

    def __init__(self, h: int, w: int):
        self.img = np.zeros((h, w, 3), np.uint8)
        self.mask = np.zeros((h, w), np.uint8)
        self.cx = w / 2.0
        self.u = float(h)

    def p(self, x: float, y: float) -> Tuple[int, int]:
        return int(round(self.cx + x * self.u)), int(round(y * self.u))

    def s(self, v: float) -> int:
        return max(1, int(round(v * self.u)))

    def poly(self, pts, colour) -> None:
        arr = np.array([self.p(x, y) for x, y in pts], np.int32)
        cv2.fillPoly(self.img, [arr], colour)
        cv2.fillPoly(self.mask, [arr], 255)

    def line(self, a, b, thick: float, colour) -> None:
        pa, pb, t = self.p(*a), self.p(*b), self.s(thick)
        cv2.line(self.img, pa, pb, colour, t)
        cv2.line(self.mask, pa, pb, 255, t)

    def ellipse(self, c, rx: float, ry: float, colour, start: float = 0, end: float = 360) -> None:
        pc, ax = self.p(*c), (self.s(rx), self.s(ry))
        cv2.ellipse(self.img, pc, ax, 0, start, end, colour, -1)
        cv2.ellipse(self.mask, pc, ax, 0, start, end, 255, -1)

    def patterned_poly(self, pts, base, accent, kind: str, period: float, texture_seed: int) -> None:
        """Fill a polygon with a garment pattern whose coordinates move with the body."""
        arr = np.array([self.p(x, y) for x, y in pts], np.int32)
        if kind in ("solid", "logo"):
            cv2.fillPoly(self.img, [arr], base)
            cv2.fillPoly(self.mask, [arr], 255)
            return
        x0, y0 = np.maximum(arr.min(0), 0)
        x1, y1 = arr.max(0) + 1
        x1, y1 = min(x1, self.img.shape[1]), min(y1, self.img.shape[0])
        if x1 <= x0 or y1 <= y0:
            return
        local = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(local, [arr - np.array([x0, y0], np.int32)], 255)
        per = max(4, int(round(period * self.u)))
        yy = np.arange(y1 - y0)[:, None]
        xx = np.arange(x1 - x0)[None, :]
        if kind == "stripes":
            sel = np.broadcast_to((yy // (per // 2)) % 2 == 0, local.shape)
        elif kind == "checks":
            sel = ((yy // per + xx // per) % 2) == 0
        else:  # "print": an identity-specific blotch layout, scaled to the garment
            g = np.random.default_rng([texture_seed, 7]).random((6, 4)) < 0.4
            sel = cv2.resize(g.astype(np.uint8), (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST) > 0
        patch = np.where(sel[..., None], np.array(accent, np.uint8), np.array(base, np.uint8))
        m = local > 0
        self.img[y0:y1, x0:x1][m] = patch[m]
        self.mask[y0:y1, x0:x1][m] = 255


def _limb(c: _Canvas, root, angle: float, length: float, bend: float, thick: float,
          colour_upper, colour_lower, split: float = 0.5):
    """A two-segment limb from ``root``; angle 0 points down, positive swings to +x."""
    mid = (root[0] + math.sin(angle) * length * split, root[1] + math.cos(angle) * length * split)
    a2 = angle + bend
    end = (mid[0] + math.sin(a2) * length * (1 - split), mid[1] + math.cos(a2) * length * (1 - split))
    c.line(root, mid, thick, colour_upper)
    c.line(mid, end, thick * 0.92, colour_lower)
    return end


def _draw_head(c: _Canvas, ident: Identity, view: str, hx: float) -> None:
    hr = 0.052 * ident.head
    hy = 0.072
    long_hair = ident.hair_style in ("long", "ponytail")
    if view == "back":
        if long_hair:  # hair falls over the shoulders, seen from behind
            c.poly([(hx - hr * 1.05, hy), (hx + hr * 1.05, hy), (hx + hr * 1.1, 0.2 if ident.hair_style == "long" else 0.16),
                    (hx - hr * 1.1, 0.2 if ident.hair_style == "long" else 0.16)], ident.hair)
        head_colour = ident.hair if ident.hair_style != "bald" else ident.skin
        c.ellipse((hx, hy), hr, hr * 1.3, head_colour)
    elif view == "front":
        if long_hair and ident.hair_style == "long":
            c.poly([(hx - hr * 1.1, hy), (hx + hr * 1.1, hy), (hx + hr * 1.15, 0.17), (hx - hr * 1.15, 0.17)], ident.hair)
        c.ellipse((hx, hy), hr, hr * 1.3, ident.skin)
        if ident.hair_style != "bald":
            c.ellipse((hx, hy - hr * 0.25), hr * 1.04, hr * 1.1, ident.hair, 180, 360)
    else:  # side, facing +x: face in front, hair over the back of the head
        c.ellipse((hx, hy), hr * 1.05, hr * 1.3, ident.skin)
        if ident.hair_style != "bald":
            c.ellipse((hx - hr * 0.15, hy - hr * 0.2), hr * 1.0, hr * 1.15, ident.hair, 150, 360)
            if long_hair:
                end = 0.19 if ident.hair_style == "long" else 0.15
                c.poly([(hx - hr * 1.1, hy), (hx - hr * 0.2, hy), (hx - hr * 0.5, end), (hx - hr * 1.2, end)], ident.hair)
    if ident.hat is not None:
        c.ellipse((hx, hy - hr * 0.55), hr * 1.1, hr * 0.85, ident.hat, 180, 360)
        brim = (hx + hr * 0.4, hx + hr * 1.8) if view == "side" else (hx - hr * 1.15, hx + hr * 1.15)
        c.line((brim[0], hy - hr * 0.55), (brim[1], hy - hr * 0.55), 0.012, _shade(ident.hat, 0.8))


def _draw_logo(c: _Canvas, ident: Identity, x: float, y: float, r: float) -> None:
    col = ident.upper_accent
    if ident.logo_shape == 0:
        c.ellipse((x, y), r, r, col)
    elif ident.logo_shape == 1:
        c.poly([(x - r, y - r), (x + r, y - r), (x + r, y + r), (x - r, y + r)], col)
    else:
        c.poly([(x, y - r * 1.2), (x + r * 1.2, y + r), (x - r * 1.2, y + r)], col)


def _legs_and_lower(c: _Canvas, ident: Identity, view: str, phase: float, far_first: bool):
    b = ident.build
    skin, lower, shoes = ident.skin, ident.lower, ident.shoes
    lower_leg = lower if ident.lower_style == "trousers" else skin
    upper_leg = skin if ident.lower_style == "skirt" else lower
    hip_y, leg_len = 0.52, 0.43
    if view == "side":
        order = (1, 0) if far_first else (0, 1)
        for i in order:
            s = math.sin(phase + i * math.pi)
            angle = ident.stride * s
            bend = -0.5 * max(0.0, -math.cos(phase + i * math.pi)) * (ident.stride / 0.35)
            f = 0.8 if i == 1 else 1.0  # far leg is in shade
            end = _limb(c, (0.0, hip_y), angle, leg_len, bend, 0.09 * b, _shade(upper_leg, f), _shade(lower_leg, f))
            c.ellipse((end[0] + 0.02, end[1] + 0.012), 0.045, 0.02, _shade(shoes, f))
    else:
        for i, sx in enumerate((-1, 1)):
            lift = 0.03 * max(0.0, math.sin(phase + i * math.pi))
            hip = (sx * 0.055 * b, hip_y)
            foot = (sx * 0.062 * b, hip_y + leg_len - lift)
            knee = ((hip[0] + foot[0]) / 2, (hip[1] + foot[1]) / 2)
            c.line(hip, knee, 0.088 * b, upper_leg)
            c.line(knee, foot, 0.08 * b, lower_leg)
            c.ellipse((foot[0], foot[1] + 0.012), 0.035, 0.02, shoes)
    hw = (0.075 if view == "side" else 0.118) * b
    c.poly([(-hw, 0.48), (hw, 0.48), (hw * 1.02, 0.56), (-hw * 1.02, 0.56)], lower)
    if ident.lower_style == "skirt":
        c.poly([(-hw, 0.5), (hw, 0.5), (hw * 1.5, 0.72), (-hw * 1.5, 0.72)], lower)
    elif ident.lower_style == "shorts" and view != "side":
        for sx in (-1, 1):
            c.poly([(sx * 0.005, 0.54), (sx * hw * 1.05, 0.54), (sx * hw * 1.05, 0.68), (sx * 0.01, 0.68)], lower)


def render_person(ident: Identity, height: int, view: str = "front", phase: float = 0.0, facing: int = 1) -> Sprite:
    """Render ``ident`` with its head-to-shoe height equal to ``height`` pixels.

    ``view`` is what the camera sees (front, back or side); for the side view ``facing`` +1
    walks towards +x (image right), -1 towards image left. ``phase`` (radians) is the gait phase.
    """
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    if height < 8:
        raise ValueError(f"person height must be >= 8 pixels, got {height}")
    hs = int(height) * _SS
    ws = (int(math.ceil(height * 0.62)) | 1) * _SS
    c = _Canvas(hs, ws)
    # Everything below is in units of the canvas height; the body spans y = 0.005 .. 0.995.
    # ``facing`` only matters for the side view: draw facing +x, mirror at the end.
    near = ident.bag_side * (-1 if view == "back" else 1)  # image side of the shoulder bag (front/back)
    b = ident.build
    sleeve = ident.upper
    fore = ident.upper if ident.long_sleeves else ident.skin
    if view == "side":
        far_is_bag_side = ident.bag_side == 1  # walking to +x, the camera sees the person's left side
        arm_a = 0.45 * ident.stride / 0.35
        _limb(c, (0.0, 0.19), -arm_a * math.sin(phase + math.pi), 0.31, 0.25, 0.058,
              _shade(sleeve, 0.8), _shade(fore, 0.8), split=0.45)
        if ident.bag is not None and far_is_bag_side:
            c.poly([(-0.03, 0.47), (0.05, 0.47), (0.05, 0.57), (-0.03, 0.57)], _shade(ident.bag, 0.75))
        _legs_and_lower(c, ident, view, phase, far_first=True)
        if ident.backpack is not None:
            c.poly([(-0.13, 0.2), (-0.05, 0.19), (-0.05, 0.44), (-0.12, 0.43)], ident.backpack)
        tw = 0.088 * b
        c.patterned_poly([(-tw, 0.17), (tw * 0.9, 0.17), (tw * 1.05, 0.5), (-tw * 1.05, 0.5)],
                         ident.upper, ident.upper_accent, ident.upper_pattern, ident.pattern_period, ident.print_seed + 2)
        if ident.upper_pattern == "logo":  # a chest logo shows at the front edge in profile
            _draw_logo(c, ident, tw * 0.55, 0.27, 0.018)
        if ident.bag is not None:
            c.line((-tw * 0.8, 0.18), (tw * 0.7, 0.46), 0.014, _shade(ident.bag, 0.8))
            if not far_is_bag_side:
                c.poly([(-0.04, 0.46), (0.06, 0.46), (0.06, 0.57), (-0.04, 0.57)], ident.bag)
        c.line((0.0, 0.13), (0.0, 0.18), 0.04, ident.skin)
        _draw_head(c, ident, view, 0.01)
        _limb(c, (0.0, 0.19), -arm_a * math.sin(phase), 0.31, 0.25, 0.06, sleeve, fore, split=0.45)
    else:
        sw, ww = 0.145 * b, 0.12 * b
        arm_swing = 0.03 * math.sin(phase)
        for sx in (-1, 1):
            hand = _limb(c, (sx * (sw - 0.022), 0.19), sx * 0.1 + arm_swing * sx, 0.31, -sx * 0.05, 0.06,
                         sleeve, fore, split=0.45)
            c.ellipse(hand, 0.022, 0.025, ident.skin)
        _legs_and_lower(c, ident, view, phase, far_first=False)
        torso = [(-sw, 0.17), (sw, 0.17), (ww, 0.5), (-ww, 0.5)]
        kind = ident.upper_pattern
        c.patterned_poly(torso, ident.upper, ident.upper_accent, kind, ident.pattern_period,
                         ident.print_seed + (0 if view == "front" else 1))
        if kind == "logo" and view == "front":
            _draw_logo(c, ident, 0.0, 0.28, 0.035)
        if ident.backpack is not None:
            if view == "back":
                c.poly([(-0.09, 0.2), (0.09, 0.2), (0.085, 0.43), (-0.085, 0.43)], ident.backpack)
                c.line((-0.07, 0.36), (0.07, 0.36), 0.01, _shade(ident.backpack, 0.7))
            else:  # straps over the shoulders
                for sx in (-1, 1):
                    c.line((sx * sw * 0.6, 0.175), (sx * sw * 0.5, 0.36), 0.022, _shade(ident.backpack, 0.85))
        if ident.bag is not None:
            c.line((-near * sw * 0.7, 0.18), (near * ww * 0.9, 0.46), 0.016, _shade(ident.bag, 0.8))
            c.poly([(near * ww * 0.8, 0.45), (near * (ww + 0.06), 0.45), (near * (ww + 0.06), 0.56),
                    (near * ww * 0.8, 0.56)], ident.bag)
        c.line((0.0, 0.13), (0.0, 0.18), 0.045, ident.skin)
        _draw_head(c, ident, view, 0.0)
    img, mask = c.img, c.mask
    if view == "side" and facing < 0:
        img, mask = img[:, ::-1], mask[:, ::-1]
    # Bit-exact 2x2 averaging gives anti-aliased, premultiplied colour and alpha.
    size = (ws // _SS, hs // _SS)
    img = cv2.resize(np.ascontiguousarray(img), size, interpolation=cv2.INTER_LINEAR_EXACT)
    alpha = cv2.resize(np.ascontiguousarray(mask), size, interpolation=cv2.INTER_LINEAR_EXACT)
    rows, cols = np.flatnonzero(alpha.any(1)), np.flatnonzero(alpha.any(0))
    box = (int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))
    return Sprite(img, alpha, box)


def composite(dst: np.ndarray, sprite: Sprite, x: int, y: int) -> None:
    """Paste ``sprite`` with its top-left corner at (x, y) of ``dst`` (in place, clipped)."""
    h, w = sprite.alpha.shape
    H, W = dst.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if x1 <= x0 or y1 <= y0:
        return
    a = sprite.alpha[y0 - y:y1 - y, x0 - x:x1 - x].astype(np.uint16)[..., None]
    fg = sprite.image[y0 - y:y1 - y, x0 - x:x1 - x].astype(np.uint16)
    bg = dst[y0:y1, x0:x1].astype(np.uint16)
    dst[y0:y1, x0:x1] = np.minimum(fg + (bg * (255 - a) + 127) // 255, 255).astype(np.uint8)
