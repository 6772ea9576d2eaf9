"""The CION-AL identity-labelled set: annotation JSON + image root; unreadable images skipped and counted."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from reidzoo.atomic import atomic_write_text
from reidzoo.paths import check_inside_root

from .augment import MultiCrop, stack_views

log = logging.getLogger(__name__)
PathLike = Union[str, os.PathLike]


class AnnotationError(ValueError):
    """An annotation file that cannot be used for pre-training."""


def read_annotations(path: PathLike, allow_absolute: bool = False) -> List[Tuple[str, int]]:
    """(file_path, id) pairs of a CION-AL annotation file, with clear errors for broken files.

    Every file_path must stay inside the image root (absolute paths only with `allow_absolute`), every
    id must be an integer, and no file may be listed twice (twice under one id would weigh it double,
    under two ids it would teach the model that two people are one).
    """
    p = Path(path)
    if not p.is_file():
        raise AnnotationError(f"annotation file {p} does not exist; pass --annotations PATH "
                              f"(the denoising stage writes annotations.json)")
    try:
        data = json.loads(p.read_text() or "null")
    except json.JSONDecodeError as exc:
        raise AnnotationError(f"{p} is not valid JSON ({exc}); it may be truncated: regenerate it") from exc
    if not isinstance(data, list):
        raise AnnotationError(f"{p} must hold a JSON list of {{\"file_path\": ..., \"id\": ...}}, "
                              f"found {type(data).__name__}")
    if not data:
        raise AnnotationError(f"{p} holds no images (empty list); check the denoising output")
    out = []
    for k, item in enumerate(data):
        try:
            out.append((str(item["file_path"]), _integer_id(item["id"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise AnnotationError(f"{p}: entry {k} ({str(item)[:80]}) lacks a file_path or integer id ({exc})") from exc
    check_inside_root((fp for fp, _ in out), str(p), allow_absolute)
    _check_unique(p, out)
    return out


def _integer_id(v) -> int:
    """A JSON integer id; floats (3.0, 3.7) and booleans are refused rather than truncated."""
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"id {v!r} is not an integer")
    return v


def _check_unique(p: Path, items: List[Tuple[str, int]]) -> None:
    """Refuse an image listed twice (it would be sampled twice as often) or under two ids."""
    seen: Dict[str, int] = {}
    for k, (path, pid) in enumerate(items):
        first = seen.setdefault(os.path.normpath(path), k)   # 'a/./b.jpg' is 'a/b.jpg'
        if first != k:
            other = items[first][1]
            what = f"under two ids ({other} and {pid})" if other != pid else f"twice (id {pid})"
            raise AnnotationError(f"{p}: {path} is listed {what}, entries {first} and {k}; each image must "
                                  f"appear once with one id: regenerate the file or remove the repeat")


def decode_rgb(path: str) -> Optional[np.ndarray]:
    """uint8 RGB (H,W,3) or None when the file is missing or not a decodable image."""
    try:
        buf = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    if buf.size == 0:
        return None
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if img is None or img.shape[0] < 2 or img.shape[1] < 2:
        return None
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


class CionALDataset(Dataset):
    """Items are keyed by (index, seed): the seed drives the multi-crop, so data never depends on workers.

    An unreadable image is replaced by another image of the same identity (tried in seeded order); the
    failures travel with the batch so the trainer can count and log them.
    """

    def __init__(self, image_root: PathLike, annotations: Union[PathLike, Sequence[Tuple[str, int]]],
                 multicrop: MultiCrop, allow_absolute_paths: bool = False):
        self.root = Path(image_root)
        if isinstance(annotations, (str, os.PathLike)):
            items = read_annotations(annotations, allow_absolute_paths)
        else:
            items = list(annotations)
            check_inside_root((fp for fp, _ in items), "the annotations", allow_absolute_paths)
        if not items:
            raise AnnotationError("the identity-labelled set holds no images")
        # relative paths in one byte blob + offsets: millions of Python strings would be copied into
        # every loader worker page by page as their refcounts change (copy-on-write)
        encoded = [fp.encode("utf-8") for fp, _ in items]
        self._blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        self._offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=self._offsets[1:])
        del encoded
        raw_ids = np.fromiter((i for _, i in items), dtype=np.int64, count=len(items))
        # contiguous labels whatever the file uses, so the sampler can index arrays by identity
        uniq, self.labels = np.unique(raw_ids, return_inverse=True)
        self.labels = self.labels.astype(np.int64)
        self.num_ids = len(uniq)
        self._order = np.argsort(self.labels, kind="stable")     # images grouped by identity
        self._starts = np.searchsorted(self.labels[self._order], np.arange(self.num_ids + 1))
        self.multicrop = multicrop

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def images_of(self, label: int) -> np.ndarray:
        """Dataset indices of one identity (contiguous label)."""
        return self._order[self._starts[label]:self._starts[label + 1]]

    def path(self, index: int) -> str:
        """Full path of image `index`."""
        a, b = self._offsets[index], self._offsets[index + 1]
        return str(self.root / self._blob[a:b].tobytes().decode("utf-8"))

    def __getitem__(self, key: Tuple[int, int]):
        index, seed = key
        rng = np.random.default_rng(seed)
        failed = []
        img = decode_rgb(self.path(index))
        if img is None:
            failed.append(self.path(index))
            for alt in rng.permutation(self.images_of(int(self.labels[index]))):
                if alt == index:
                    continue
                img = decode_rgb(self.path(alt))
                if img is not None:
                    break
                failed.append(self.path(alt))
        views = None if img is None else self.multicrop(img, rng)
        return views, int(self.labels[index]), failed


class CollateIdentityBatch:
    """Batch of P*K samples -> dict(views=[uint8 (B,3,h,w)] * ncrops, ids, failed, dropped).

    An identity none of whose images decodes is dropped as a whole group of K, which keeps the
    P x K layout the loss relies on.
    """

    def __init__(self, num_instances: int):
        self.K = num_instances

    def __call__(self, samples):
        K = self.K
        failed = [p for s in samples for p in s[2]]
        keep, dropped = [], 0
        for g in range(0, len(samples), K):
            group = samples[g:g + K]
            if any(s[0] is None for s in group):
                dropped += 1
                continue
            keep.extend(group)
        if not keep:
            return {"views": None, "ids": torch.empty(0, dtype=torch.long), "failed": failed, "dropped": dropped}
        return {"views": stack_views([s[0] for s in keep]),
                "ids": torch.tensor([s[1] for s in keep], dtype=torch.long),
                "failed": failed, "dropped": dropped}


def annotations_from_market(market_root: PathLike, out_json: Optional[PathLike] = None) -> Path:
    """Write a CION-AL annotation file for the training split of a Market-1501-style folder.

    The image root of the result is the dataset folder itself (the file paths start with
    bounding_box_train/); handy for pre-training on the synthetic world or on Market-1501.
    """
    from reidzoo.data import Market1501

    ds = Market1501(market_root, relabel_train=True)
    base = Path(ds.train[0][0]).parent.parent if ds.train else Path(market_root)
    items = sorted(({"file_path": os.path.relpath(p, base), "id": int(pid)} for p, pid, _ in ds.train),
                   key=lambda x: (x["id"], x["file_path"]))
    if not items:
        raise AnnotationError(f"{market_root} has no training images")
    out = Path(out_json) if out_json else base / "cional_annotations.json"
    atomic_write_text(out, json.dumps(items))
    return out
