"""Market-1501 reader (Zheng et al., ICCV 2015)."""
from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Dict, List, Optional

from .base import DatasetLayoutError, Item, PathLike, ReIDDataset, find_dataset_dir, list_images, relabel

_NAME = re.compile(r"^(-?\d+)_c(\d+)")
LAYOUT = """  <root>/Market-1501-v15.09.15/
      bounding_box_train/   0002_c1s1_000451_03.jpg ...   (person 0002, camera 1)
      bounding_box_test/    gallery; person -1 = junk (dropped), 0000 = distractor (kept)
      query/"""


def parse_market_name(name: str):
    """(pid, camid 0-based) from a Market-1501 file name, or None if it does not follow the scheme."""
    m = _NAME.match(name)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)) - 1


class Market1501(ReIDDataset):
    """Market-1501: ``.train``, ``.query``, ``.gallery`` lists of (path, pid, camid 0-based).

    ``root`` is a data root containing ``Market-1501-v15.09.15/`` or that folder itself
    (default: env REIDZOO_DATA or ``datasets/``). Junk images (pid -1) are dropped and counted in
    ``.junk``; distractors (pid 0) stay in the gallery. Image files whose names do not parse are
    skipped with a warning and listed in ``.misnamed``. ``relabel_train=True`` maps train pids to 0..n-1.
    """

    name = "market1501"
    folder_names = ("Market-1501-v15.09.15", "Market-1501", "market1501")
    markers = ("bounding_box_train", "bounding_box_test", "query")    # what a Market-1501 folder holds
    expected = {"train": (12936, 751), "query": (3368, 750), "gallery": (15913, 751)}

    def __init__(self, root: Optional[PathLike] = None, relabel_train: bool = False, verify: bool = True):
        super().__init__()
        self.junk: Dict[str, int] = {}             # per folder: images of person -1, dropped
        self.misnamed: Dict[str, List[str]] = {}   # per folder: image files that do not parse, skipped
        self.dataset_dir = find_dataset_dir(root, self.folder_names, self.markers, LAYOUT, "Market-1501")
        self.train = self._read("bounding_box_train")
        self.query = self._read("query")
        self.gallery = self._read("bounding_box_test")
        if relabel_train:
            self.train = relabel(self.train)
        for split in ("train", "query", "gallery"):
            if not getattr(self, split):
                raise DatasetLayoutError(f"Market-1501 split '{split}' in {self.dataset_dir} has no images "
                                         f"named like 0002_c1s1_000451_03.jpg. Expected layout:\n{LAYOUT}")
        if verify and self.dataset_dir.name == "Market-1501-v15.09.15":
            self.check_sizes()

    def _read(self, sub: str) -> List[Item]:
        items, misnamed, junk = [], [], 0
        for p in list_images(Path(self.dataset_dir) / sub):
            parsed = parse_market_name(p.name)
            if parsed is None:
                misnamed.append(p.name)
            elif parsed[0] == -1:
                junk += 1
            else:
                items.append((str(p), parsed[0], parsed[1]))
        self.junk[sub] = junk
        if misnamed:
            self.misnamed[sub] = misnamed
            warnings.warn(f"Market-1501 {sub}/: skipped {len(misnamed)} image file(s) not named like "
                          f"0002_c1s1_000451_03.jpg (person_camera...), e.g. {', '.join(misnamed[:3])}",
                          stacklevel=3)
        return items
