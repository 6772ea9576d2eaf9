"""Tracklet quality filters, even sampling, crops with a margin, and the tracklets.jsonl format."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np


@dataclass
class FilterConfig:
    """Which boxes and tracklets are kept; defaults suit re-ID (crops of people >= 64 px tall)."""

    min_height: int = 64             # px at full resolution
    min_aspect: float = 0.2          # width / height band of a standing person
    max_aspect: float = 0.8
    border_margin: int = 2           # a box closer than this to the frame edge is cut by it
    min_score: float = 0.0           # detector confidence
    max_overlap: float = 0.2         # share of a box covered by another person; above it the tracklet is cut
    min_sharpness: float = 15.0      # variance of the Laplacian of the crop at 128 px height
    max_appearance_change: float = 0.4  # colour-histogram distance that cuts a tracklet (1 disables)
    min_length: int = 8              # accepted boxes a tracklet needs
    max_crops: int = 8               # crops kept per tracklet, spread evenly over time
    crop_margin: float = 0.1         # context added around a box, as a fraction of its size
    jpeg_quality: int = 95

    def to_dict(self) -> dict:
        """Plain dict for summaries."""
        return asdict(self)


def box_rejection(xyxy: np.ndarray, score: float, frame_w: int, frame_h: int, cfg: FilterConfig) -> str | None:
    """Why a box is rejected ('height', 'aspect', 'border', 'score'), or None when it passes."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    w, h = x2 - x1, y2 - y1
    if h < cfg.min_height:
        return "height"
    if w <= 0 or not cfg.min_aspect <= w / h <= cfg.max_aspect:
        return "aspect"
    m = cfg.border_margin
    if x1 < m or y1 < m or x2 > frame_w - m or y2 > frame_h - m:
        return "border"
    if score < cfg.min_score:
        return "score"
    return None


def max_covered(xyxy: np.ndarray, others: np.ndarray) -> float:
    """Largest share of the box's area covered by any one of `others` (xyxy boxes)."""
    if len(others) == 0:
        return 0.0
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    iw = np.clip(np.minimum(others[:, 2], x2) - np.maximum(others[:, 0], x1), 0, None)
    ih = np.clip(np.minimum(others[:, 3], y2) - np.maximum(others[:, 1], y1), 0, None)
    area = max((x2 - x1) * (y2 - y1), 1e-6)
    return float((iw * ih).max() / area)


def appearance(box_crop: np.ndarray) -> np.ndarray:
    """Normalised HSV colour histogram of the middle of a person box (mostly body, little background)."""
    h, w = box_crop.shape[:2]
    core = box_crop[int(0.1 * h):max(int(0.9 * h), 1), int(0.25 * w):max(int(0.75 * w), 1)]
    hist = cv2.calcHist([cv2.cvtColor(core, cv2.COLOR_BGR2HSV)], [0, 1, 2], None, [8, 4, 4],
                        [0, 180, 0, 256, 0, 256])
    return cv2.normalize(hist, None, 1.0, 0.0, cv2.NORM_L1)


def appearance_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya distance of two appearance histograms: 0 same colours, 1 disjoint."""
    return float(cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA))


def sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian of the crop's grey image resized to 128 px height (blur score)."""
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    h = grey.shape[0]
    if h != 128 and h > 0:
        # A fixed height makes the score comparable between near and far people.
        grey = cv2.resize(grey, (max(1, round(grey.shape[1] * 128 / h)), 128), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def margin_box(xyxy: np.ndarray, margin: float, frame_w: int, frame_h: int) -> tuple[int, int, int, int]:
    """Integer crop rectangle x1, y1, x2, y2: the box grown by `margin` on each side, clipped to the frame."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    dx, dy = margin * (x2 - x1), margin * (y2 - y1)
    return (max(0, int(round(x1 - dx))), max(0, int(round(y1 - dy))),
            min(frame_w, int(round(x2 + dx))), min(frame_h, int(round(y2 + dy))))


def sample_evenly(n: int, m: int) -> list[int]:
    """Up to m indices of range(n) spread evenly from first to last."""
    if n <= m:
        return list(range(n))
    if m == 1:
        return [n // 2]
    return sorted({int(round(i * (n - 1) / (m - 1))) for i in range(m)})


@dataclass
class Candidate:
    """One accepted box of a tracklet with its crop (kept in memory until the tracklet ends)."""

    frame: int
    xyxy: np.ndarray
    score: float
    crop: np.ndarray


@dataclass
class TrackletBuffer:
    """Accepted boxes of one live track, thinned so memory stays bounded for long tracks.

    It keeps every `step`-th accepted box; when more than `capacity` are held it drops every
    other one and doubles `step`, so what is left stays evenly spread over the track's life.
    """

    capacity: int
    accepted: int = 0
    interrupted: bool = False        # an overlap was seen since the last accepted box
    colours: np.ndarray | None = None  # running mean appearance of the accepted boxes
    step: int = 1
    last_seen: int = 0
    items: list[Candidate] = field(default_factory=list)

    def add(self, candidate: Candidate) -> None:
        """Count an accepted box and keep it when it falls on the current step."""
        if self.accepted % self.step == 0:
            self.items.append(candidate)
            if len(self.items) > self.capacity:
                self.items = self.items[::2]
                self.step *= 2
        self.accepted += 1

    def sample(self, m: int) -> list[Candidate]:
        """Up to m held boxes spread evenly over the track."""
        return [self.items[i] for i in sample_evenly(len(self.items), m)]


def encode_jpeg(crop: np.ndarray, quality: int = 95) -> bytes:
    """JPEG bytes of a BGR crop."""
    ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("OpenCV failed to encode a crop as JPEG")
    return buf.tobytes()


def tracklet_record(video: str, tracklet: int, frame: int, xyxy: np.ndarray, score: float, file_path: str) -> dict:
    """One tracklets.jsonl line (bbox as x, y, w, h in full-resolution pixels)."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    return {"video": video, "tracklet": int(tracklet), "frame": int(frame),
            "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
            "score": round(float(score), 4), "file_path": file_path}


def write_jsonl(path: Path, records: Iterable[dict]) -> int:
    """Write records one JSON object per line; returns the count."""
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")
            n += 1
    return n


def read_tracklets(path: str | Path) -> Iterator[dict]:
    """Records of a tracklets.jsonl file."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)
