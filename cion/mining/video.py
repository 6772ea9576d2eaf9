"""Video reading with OpenCV: probing, frame stride and an optional time range."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

# Extensions picked up when a folder is given; any file OpenCV reads works when named directly.
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".m4v", ".wmv", ".flv", ".ts")


class VideoError(RuntimeError):
    """A video that cannot be mined: missing, unreadable or corrupt (the message says which)."""

    exit_code = 2


@dataclass(frozen=True)
class VideoInfo:
    """What OpenCV reports about a video before decoding it."""

    path: str
    fps: float
    frame_count: int
    width: int
    height: int


def _open(path: str | Path) -> cv2.VideoCapture:
    p = Path(path)
    if not p.exists():
        raise VideoError(f"{p}: file not found")
    if not p.is_file():
        raise VideoError(f"{p}: not a file")
    if p.stat().st_size == 0:
        raise VideoError(f"{p}: file is empty (0 bytes)")
    cap = cv2.VideoCapture(str(p))
    if not cap.isOpened():
        cap.release()
        raise VideoError(f"{p}: OpenCV cannot open it (not a video, an unsupported codec, or corrupt)")
    return cap


def probe_video(path: str | Path) -> VideoInfo:
    """Open `path` and return its fps, frame count and size; raise VideoError if OpenCV cannot read it."""
    cap = _open(path)
    try:
        fps = cap.get(cv2.CAP_PROP_FPS)
        # Some containers report 0 or nonsense fps; 25 is a safe guess for tracking's time scale.
        fps = float(fps) if fps and np.isfinite(fps) and 1.0 <= fps <= 1000.0 else 25.0
        count = int(max(cap.get(cv2.CAP_PROP_FRAME_COUNT), 0))
        return VideoInfo(str(path), fps, count, int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                         int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    finally:
        cap.release()


def frame_range(info: VideoInfo, start_s: float | None = None, end_s: float | None = None) -> tuple[int, int | None]:
    """First frame index and end index (exclusive, None = to the end) for a time range in seconds."""
    start = int(round(start_s * info.fps)) if start_s else 0
    end = int(round(end_s * info.fps)) if end_s is not None else None
    if end is not None and end <= start:
        raise ValueError(f"empty time range: start {start_s}s is not before end {end_s}s")
    return max(start, 0), end


def iter_frames(path: str | Path, stride: int = 1, start_s: float | None = None,
                end_s: float | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (0-based frame index, BGR frame) for every `stride`-th frame in [start_s, end_s).

    Frames in between are grabbed without being converted, which is what makes a stride cheap.
    Raises VideoError when the video cannot be opened or no frame at all can be decoded.
    """
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    info = probe_video(path)
    start, end = frame_range(info, start_s, end_s)
    cap = _open(path)
    try:
        if start > 0:
            cap.set(cv2.CAP_PROP_POS_FRAMES, start)
        index = start
        decoded_any = False
        while end is None or index < end:
            if (index - start) % stride == 0:
                ok, frame = cap.read()
                if not ok or frame is None:
                    break
                decoded_any = True
                yield index, frame
            elif not cap.grab():
                break
            index += 1
        if not decoded_any and info.frame_count > 0 and start < info.frame_count:
            raise VideoError(f"{path}: opened, but no frame could be decoded (corrupt or truncated)")
    finally:
        cap.release()
