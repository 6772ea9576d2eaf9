"""MSMT17 reader (Wei et al., CVPR 2018), V1 and V2 (masked faces) folder layouts."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

from ..paths import join_inside
from .base import DatasetLayoutError, Item, PathLike, ReIDDataset, find_dataset_dir, relabel

LAYOUT = """  <root>/MSMT17_V1/                       (or MSMT17_V2/ with mask_train_v2/, mask_test_v2/)
      train/0000/0000_000_01_0303morning_0015_0.jpg ...   (camera = 3rd '_' field, 1-based)
      test/...
      list_train.txt  list_val.txt  list_query.txt  list_gallery.txt   (lines: 'path pid')"""
_VERSIONS = {"MSMT17_V1": ("train", "test"), "MSMT17_V2": ("mask_train_v2", "mask_test_v2"),
             "MSMT17": ("train", "test")}


def msmt_camid(file_name: str) -> int:
    """0-based camera id from an MSMT17 file name such as 0000_000_01_0303morning_0015_0.jpg."""
    return int(Path(file_name).name.split("_")[2]) - 1


class MSMT17(ReIDDataset):
    """MSMT17: train = list_train, query = list_query, gallery = list_gallery.

    list_val is read into ``.val`` but, as in fast-reid and torchreid, not trained on unless
    ``include_val=True`` (the dataset name ``msmt17_trainval``), which appends it to ``.train``.
    ``root`` is a data root containing ``MSMT17_V1/`` or ``MSMT17_V2/``, or that folder itself.
    Items are (path, pid, camid 0-based); ``relabel_train=True`` maps train pids to 0..n-1.
    """

    name = "msmt17"
    markers = ("list_train.txt", "list_query.txt", "list_gallery.txt")   # what an MSMT17 folder holds
    # published sizes: list_train 30,248 images and list_val 2,373, both of the same 1,041 ids
    expected = {"train": (30248, 1041), "query": (11659, 3060), "gallery": (82161, 3060)}

    def __init__(self, root: Optional[PathLike] = None, relabel_train: bool = False, verify: bool = True,
                 include_val: bool = False):
        super().__init__()
        self.dataset_dir = find_dataset_dir(root, tuple(_VERSIONS), self.markers, LAYOUT, "MSMT17")
        train_dir, test_dir = self._image_dirs()
        self.train = self._read("list_train.txt", train_dir)
        self.val = self._read("list_val.txt", train_dir) if (self.dataset_dir / "list_val.txt").exists() else []
        self.include_val = include_val
        if include_val:
            self.train = self.train + self.val
            self.expected = dict(self.expected, train=(32621, 1041))
        self.query = self._read("list_query.txt", test_dir)
        self.gallery = self._read("list_gallery.txt", test_dir)
        if relabel_train:
            self.train = relabel(self.train)
        if verify and self.dataset_dir.name in ("MSMT17_V1", "MSMT17_V2"):
            self.check_sizes()

    def _image_dirs(self):
        d = self.dataset_dir
        for train, test in _VERSIONS.values():
            if (d / train).is_dir() and (d / test).is_dir():
                return d / train, d / test
        raise DatasetLayoutError(f"MSMT17 list files found in {d} but no image folders train/ + test/ "
                                 f"(V1) or mask_train_v2/ + mask_test_v2/ (V2). Expected layout:\n{LAYOUT}")

    def _read(self, list_name: str, image_dir: Path) -> List[Item]:
        items = []
        path = self.dataset_dir / list_name
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split()
            try:
                rel, pid = parts[0], int(parts[1])
                cam = msmt_camid(rel)
            except (IndexError, ValueError):
                raise DatasetLayoutError(f"{path}:{n}: expected 'path pid' with a file name like "
                                         f"0000_000_01_0303morning_0015_0.jpg, got {line!r}") from None
            items.append((str(join_inside(image_dir, rel, f"{path}:{n}")), pid, cam))
        if not items:
            raise DatasetLayoutError(f"{path} lists no images. Expected layout:\n{LAYOUT}")
        return items
