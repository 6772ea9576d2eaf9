"""The sample table the denoising levels work on: features plus video / tracklet / frame per crop."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from .noise import l2_normalize


class DenoiseInputError(ValueError):
    """Input that cannot be denoised as given; the message says what was wrong and what to do."""


@dataclass
class Corpus:
    """Crops sorted by (video, tracklet, frame) so that every video is one contiguous row range.

    `features` are L2-normalised float32; rows whose input features were not finite are zero and
    `valid` is False for them (they are dropped before level 1 and reported).
    """

    features: np.ndarray            # (N, d) float32, unit rows
    video: np.ndarray               # (N,) int64 code into video_names (0..V-1, in name order)
    tracklet: np.ndarray            # (N,) int64 global tracklet code (0..T-1, contiguous in rows)
    file_path: np.ndarray           # (N,) str
    video_names: np.ndarray         # (V,) str
    tracklet_video: np.ndarray      # (T,) video code of each tracklet
    tracklet_ids: np.ndarray        # (T,) the input's tracklet id (unique within its video)
    valid: np.ndarray               # (N,) bool
    frame: Optional[np.ndarray] = None   # (N,) int64 or None when unknown
    source_index: Optional[np.ndarray] = None  # (N,) row of the input each row came from
    extra: Dict[str, np.ndarray] = field(default_factory=dict)  # per-row arrays carried along (e.g. ground truth)

    @property
    def n(self) -> int:
        return len(self.features)

    @property
    def n_videos(self) -> int:
        return len(self.video_names)

    @property
    def n_tracklets(self) -> int:
        return len(self.tracklet_video)

    def video_bounds(self) -> np.ndarray:
        """(V+1,) row offsets: video v occupies rows bounds[v]:bounds[v+1]."""
        return np.searchsorted(self.video, np.arange(self.n_videos + 1), side="left")

    def tracklet_labels(self) -> np.ndarray:
        """Raw single-video tracklet labels, -1 for invalid rows: the starting identities."""
        return np.where(self.valid, self.tracklet, -1).astype(np.int64)


def _codes(values: np.ndarray, what: str) -> tuple:
    """Sorted unique keys and the code of each value; ints stay numeric, the rest become str."""
    values = np.asarray(values)
    if values.dtype.kind in "iu":
        uniq, inv = np.unique(values, return_inverse=True)
        return uniq, inv
    if values.dtype.kind not in "USO":
        raise DenoiseInputError(f"'{what}' must hold ints or strings, got dtype {values.dtype}")
    as_str = values.astype(str)
    uniq, inv = np.unique(as_str, return_inverse=True)
    return uniq, inv


def build_corpus(features: np.ndarray, video: Sequence, tracklet: Sequence, file_path: Sequence,
                 frame: Optional[Sequence] = None, extra: Optional[Dict[str, np.ndarray]] = None) -> Corpus:
    """Validate per-crop arrays, L2-normalise features and sort rows by (video, tracklet, frame)."""
    feats = np.asarray(features)
    if feats.ndim != 2 or feats.shape[0] == 0 or feats.shape[1] == 0:
        raise DenoiseInputError(f"features must be a non-empty (N, d) array, got shape {feats.shape}")
    n = len(feats)
    arrays = {"video": np.asarray(video), "tracklet": np.asarray(tracklet), "file_path": np.asarray(file_path)}
    if frame is not None:
        arrays["frame"] = np.asarray(frame)
    for k, a in {**arrays, **(extra or {})}.items():
        if a.ndim != 1 or len(a) != n:
            raise DenoiseInputError(f"'{k}' must be a 1-D array with one entry per feature row ({n}), "
                                    f"got shape {a.shape}")
    if arrays["tracklet"].dtype.kind not in "iu":
        try:
            arrays["tracklet"] = arrays["tracklet"].astype(np.int64)
        except ValueError as e:
            raise DenoiseInputError(f"'tracklet' must be integers (unique within a video): {e}") from None
    video_names, vcode = _codes(arrays["video"], "video")
    frame_arr = None if frame is None else arrays["frame"].astype(np.int64)
    keys = [np.arange(n)] + ([frame_arr] if frame_arr is not None else []) + \
        [arrays["tracklet"].astype(np.int64), vcode]
    order = np.lexsort(keys)
    vcode = vcode[order].astype(np.int64)
    tr = arrays["tracklet"].astype(np.int64)[order]
    new_track = np.r_[True, (vcode[1:] != vcode[:-1]) | (tr[1:] != tr[:-1])]
    tcode = np.cumsum(new_track) - 1
    starts = np.flatnonzero(new_track)
    x = np.asarray(feats, dtype=np.float32)[order]  # the copy we own and normalise in place
    valid = np.isfinite(x).all(axis=1)
    x[~valid] = 0.0
    zero = valid & (np.abs(x).max(axis=1) == 0)
    valid &= ~zero  # an all-zero vector has no direction
    l2_normalize(x)
    return Corpus(features=x, video=vcode, tracklet=tcode.astype(np.int64),
                  file_path=arrays["file_path"].astype(str)[order], video_names=np.asarray(video_names).astype(str),
                  tracklet_video=vcode[starts], tracklet_ids=tr[starts], valid=valid,
                  frame=None if frame_arr is None else frame_arr[order], source_index=order,
                  extra={k: np.asarray(v)[order] for k, v in (extra or {}).items()})


def duplicate_frames(corpus: Corpus) -> int:
    """Rows that repeat a (tracklet, frame) pair; a tracker never emits two boxes of one track per frame."""
    if corpus.frame is None:
        return 0
    t, f = corpus.tracklet, corpus.frame
    return int(((t[1:] == t[:-1]) & (f[1:] == f[:-1])).sum())


def describe(corpus: Corpus) -> Dict[str, object]:
    """Input counts for the report, including the degenerate cases the levels have to handle."""
    sizes = np.bincount(corpus.tracklet, minlength=corpus.n_tracklets)
    per_video = np.bincount(corpus.tracklet_video, minlength=corpus.n_videos)
    bad: List[str] = corpus.file_path[~corpus.valid][:5].tolist()
    return {
        "images": int(corpus.n), "videos": int(corpus.n_videos), "tracklets": int(corpus.n_tracklets),
        "feature_dim": int(corpus.features.shape[1]),
        "frames_known": corpus.frame is not None,
        "invalid_features": int((~corpus.valid).sum()), "invalid_feature_examples": bad,
        "single_image_tracklets": int((sizes == 1).sum()),
        "single_tracklet_videos": int((per_video == 1).sum()),
        "duplicate_tracklet_frames": duplicate_frames(corpus),
    }
