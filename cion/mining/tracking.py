"""Multi-person tracking with Roboflow's `trackers` ByteTrack (a maintained implementation).

ByteTrack was chosen because it needs no appearance model (our detectors give boxes only),
it keeps low-confidence boxes alive through its second association stage (HOG scores are
noisy), and `trackers` ships it with a tested Kalman filter, Hungarian matching and a
TrackEval-parity evaluator that `quality.py` reuses.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker


@dataclass
class TrackerConfig:
    """ByteTrack settings; thresholds apply to detector confidences in [0, 1].

    Defaults favour pure tracklets over long ones: a tracklet that swaps people poisons a
    re-ID identity, while a person split over two tracklets is merged again by denoising.
    They were picked on synthetic videos (seed 1, replaying HOG detections over a small grid):
    a match IoU of 0.3 rather than ByteTrack's 0.1 removed most identity switches.
    """

    lost_track_buffer: int = 30         # frames at 30 fps a lost track may be re-found
    track_activation_threshold: float = 0.4
    high_conf_det_threshold: float = 0.3
    minimum_iou_threshold: float = 0.3
    minimum_consecutive_frames: int = 2

    def to_dict(self) -> dict:
        """Plain dict for summaries."""
        return asdict(self)


class PersonTracker:
    """Feeds one video's per-frame detections to ByteTrack and returns confirmed track ids."""

    def __init__(self, fps: float, stride: int = 1, config: TrackerConfig | None = None):
        self.config = config or TrackerConfig()
        c = self.config
        # The tracker sees every stride-th frame, so its clock runs at fps / stride.
        self._tracker = ByteTrackTracker(
            lost_track_buffer=c.lost_track_buffer,
            frame_rate=max(fps / max(stride, 1), 1e-3),
            track_activation_threshold=c.track_activation_threshold,
            minimum_consecutive_frames=c.minimum_consecutive_frames,
            minimum_iou_threshold=c.minimum_iou_threshold,
            high_conf_det_threshold=c.high_conf_det_threshold,
        )

    def update(self, detections: sv.Detections) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Track one frame: (track_ids (N,), xyxy (N,4), scores (N,)) of confirmed tracks only."""
        out = self._tracker.update(detections)
        if len(out) == 0:
            return np.zeros(0, dtype=int), np.zeros((0, 4), dtype=np.float32), np.zeros(0, dtype=np.float32)
        ids = np.asarray(out.tracker_id, dtype=int)
        keep = ids >= 0
        scores = out.confidence if out.confidence is not None else np.ones(len(out), dtype=np.float32)
        return ids[keep], np.asarray(out.xyxy, dtype=np.float32)[keep], np.asarray(scores, dtype=np.float32)[keep]

    def others(self, track_id: int) -> np.ndarray:
        """xyxy boxes (Kalman state) of every other live track, lost or tentative ones included.

        A lost track's predicted box is where a hidden person probably is: a box overlapping it
        may be about to swap identity, which detections alone cannot show while one is missed.
        """
        boxes = [t.get_state_bbox() for t in self._tracker.tracks if t.tracker_id != track_id]
        return np.asarray(boxes, dtype=np.float32).reshape(-1, 4)

    @property
    def max_missed_frames(self) -> int:
        """Processed frames after which a track that was not seen is certainly finished."""
        return int(self._tracker.maximum_frames_without_update) + 1
