"""Reading denoising inputs: a mining output folder (tracklets.jsonl + crops) or a features .npz."""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from reidzoo.paths import check_inside_root, escapes_root, outside_root_error

from .corpus import DenoiseInputError

REQUIRED_KEYS = ("video", "tracklet", "frame", "file_path")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class Tracklets:
    """Per-crop columns read from tracklets.jsonl (only crops whose file exists), plus problems found."""

    root: Path
    video: np.ndarray
    tracklet: np.ndarray
    frame: np.ndarray
    file_path: np.ndarray
    bbox: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))  # (N, 4) x, y, w, h (nan if absent)
    problems: Dict[str, object] = field(default_factory=dict)


def _problem(problems: Dict[str, object], key: str, examples: List[str], count: int) -> None:
    if count:
        problems[key] = {"count": int(count), "examples": examples[:5]}


def read_tracklets(root, check_files: bool = True) -> Tracklets:
    """Parse `root/tracklets.jsonl`; bad lines, missing crops and unlisted crops are counted, not fatal.

    A file_path outside the folder (absolute, or climbing out with '..') is an error naming its line:
    `cion mine` never writes one, and the crops it names would be read and copied into the labels.
    """
    root = Path(root)
    jl = root / "tracklets.jsonl"
    if not jl.is_file():
        raise DenoiseInputError(f"{jl} not found: pass the output folder of `cion mine` (it holds "
                                f"tracklets.jsonl and the crops), or use --features FILE.npz")
    cols: Dict[str, list] = {k: [] for k in REQUIRED_KEYS + ("bbox",)}
    bad: List[str] = []
    n_bad = 0
    seen = set()
    dup: List[str] = []
    n_dup = 0
    with open(jl, encoding="utf-8") as fh:
        for no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                vals = [rec[k] for k in REQUIRED_KEYS]
                vals[1], vals[2] = int(vals[1]), int(vals[2])
                vals[0], vals[3] = str(vals[0]), str(vals[3])
                box = rec.get("bbox")
                box = [float(b) for b in box] if isinstance(box, list) and len(box) == 4 else [np.nan] * 4
            except (ValueError, KeyError, TypeError) as e:
                n_bad += 1
                bad.append(f"line {no}: {type(e).__name__}: {str(e)[:80]}")
                continue
            if escapes_root(vals[3]):
                raise outside_root_error(f"{jl}:{no}", vals[3])  # no opt-in: mining writes relative paths
            if vals[3] in seen:
                n_dup += 1
                dup.append(f"line {no}: {vals[3]}")
                continue
            seen.add(vals[3])
            for k, v in zip(REQUIRED_KEYS + ("bbox",), vals + [box]):
                cols[k].append(v)
    problems: Dict[str, object] = {}
    _problem(problems, "bad_lines", bad, n_bad)
    _problem(problems, "duplicate_file_paths", dup, n_dup)
    fp = np.asarray(cols["file_path"], dtype=str)
    keep = np.ones(len(fp), bool)
    if check_files and len(fp):
        exists = np.fromiter((os.path.isfile(root / p) for p in fp), bool, len(fp))
        _problem(problems, "missing_crops", fp[~exists][:5].tolist(), int((~exists).sum()))
        keep &= exists
        listed = set(fp.tolist())
        unlisted = []
        for dirpath, _, files in os.walk(root):
            for f in files:
                if f.lower().endswith(IMAGE_SUFFIXES):
                    rel = os.path.relpath(os.path.join(dirpath, f), root)
                    if rel not in listed:
                        unlisted.append(rel)
        _problem(problems, "unlisted_crops", sorted(unlisted)[:5], len(unlisted))
    if not keep.any():
        raise DenoiseInputError(f"{jl} lists no usable crops ({len(fp)} valid lines, "
                                f"{problems.get('missing_crops', {}).get('count', 0)} missing files, {n_bad} bad "
                                f"lines); check that the crops were copied along with tracklets.jsonl")
    return Tracklets(root, np.asarray(cols["video"], dtype=str)[keep], np.asarray(cols["tracklet"], np.int64)[keep],
                     np.asarray(cols["frame"], np.int64)[keep], fp[keep],
                     np.asarray(cols["bbox"], np.float64).reshape(-1, 4)[keep], problems)


def read_features_npz(path, allow_absolute_paths: bool = False) -> Dict[str, np.ndarray]:
    """Load a features-only input: arrays features (N, d), video, tracklet, file_path (+ optional frame).

    file_path entries become annotations.json's paths, relative to the image root pre-training reads:
    they must stay inside it (absolute ones only with `allow_absolute_paths`) and name each crop once.
    """
    path = Path(path)
    if not path.is_file():
        raise DenoiseInputError(f"features file {path} not found")
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise DenoiseInputError(f"{path}: cannot read it as .npz without pickles ({e}); store strings as "
                                f"fixed-width unicode arrays (np.asarray(names, dtype=str))") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:  # empty, truncated or not a zip at all
        raise DenoiseInputError(f"{path} is not a readable .npz file ({e}); write it again with np.savez") from None
    if not hasattr(data, "files"):
        raise DenoiseInputError(f"{path} holds a single array, not an .npz of named arrays (np.savez)")
    missing = [k for k in ("features", "video", "tracklet", "file_path") if k not in data.files]
    if missing:
        raise DenoiseInputError(f"{path} lacks array(s) {missing}; it needs features (N, d float32), video (N), "
                                f"tracklet (N int, unique within a video), file_path (N str), optionally frame (N)")
    out = {k: data[k] for k in data.files}
    fp = out["file_path"]
    if fp.ndim == 1 and fp.dtype.kind in "US":
        check_inside_root(fp.tolist(), f"{path} file_path", allow_absolute_paths)
        uniq, counts = np.unique(fp, return_counts=True)
        if (counts > 1).any():
            twice = uniq[counts > 1]
            raise DenoiseInputError(f"{path}: {len(twice)} file_path(s) appear more than once, e.g. {twice[0]!r} "
                                    f"({int(counts.max())} times); each crop needs one row")
    return out


def optional(d: Dict[str, np.ndarray], key: str) -> Optional[np.ndarray]:
    """`d[key]` or None."""
    return d[key] if key in d else None
