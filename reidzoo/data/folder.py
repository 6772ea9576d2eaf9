"""A generic reader for your own re-ID set: list files, or one sub-folder per person."""
from __future__ import annotations

import re
from pathlib import Path
from typing import List, Optional

from ..paths import PathOutsideRootError, join_inside
from .base import DatasetLayoutError, Item, PathLike, ReIDDataset, list_images

LAYOUT = """  <root>/
      train.txt  query.txt  gallery.txt      lines 'relative/path.jpg pid camid' (camid 0-based)
  or
      train/<pid>/<image>  query/<pid>/<image>  gallery/<pid>/<image>
      with the camera in the file name (default pattern 'c(\\d+)', 1-based, e.g. 0001_c2_f001.jpg)"""


class FolderDataset(ReIDDataset):
    """Your own set. ``train`` may be absent (evaluation only); query and gallery are required."""

    name = "folder"

    def __init__(self, root: PathLike, camid_pattern: str = r"c(\d+)", camid_base: int = 1,
                 relabel_train: bool = False):
        super().__init__()
        self.dataset_dir = Path(root)
        self.name = self.dataset_dir.name or "folder"
        self._cam = re.compile(camid_pattern)
        self._cam_base = camid_base
        for split in ("train", "query", "gallery"):
            setattr(self, split, self._read(split))
        if relabel_train and self.train:
            from .base import relabel
            self.train = relabel(self.train)
        for split in ("query", "gallery"):
            if not getattr(self, split):
                raise DatasetLayoutError(f"no {split} images found in {self.dataset_dir}. Expected layout:\n{LAYOUT}")

    def _read(self, split: str) -> List[Item]:
        lst, sub = self.dataset_dir / f"{split}.txt", self.dataset_dir / split
        if lst.is_file():
            items = []
            for n, line in enumerate(lst.read_text().splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    rel, pid, cam = line.split()[:3]
                    items.append((str(join_inside(self.dataset_dir, rel, f"{lst}:{n}")), int(pid), int(cam)))
                except PathOutsideRootError:
                    raise
                except ValueError:
                    raise DatasetLayoutError(f"{lst}:{n}: expected 'path pid camid', got {line!r}") from None
            return items
        if sub.is_dir():
            items = []
            for person in sorted(p for p in sub.iterdir() if p.is_dir()):
                try:
                    pid = int(person.name)
                except ValueError:
                    raise DatasetLayoutError(f"{person}: person folders must be named by an integer id") from None
                for img in list_images(person):
                    m = self._cam.search(img.name)
                    if not m:
                        raise DatasetLayoutError(f"{img}: no camera id matching {self._cam.pattern!r} in the "
                                                 f"file name; pass camid_pattern=... or use list files")
                    items.append((str(img), pid, int(m.group(1)) - self._cam_base))
            return items
        return []
