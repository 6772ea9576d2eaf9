"""Common parts of the dataset readers: items, default data root, layout errors, size checks."""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

Item = Tuple[str, int, int]          # (image path, person id, 0-based camera id)
PathLike = Union[str, os.PathLike]
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


class DatasetLayoutError(FileNotFoundError):
    """A dataset folder is missing or not laid out as expected."""


def default_root() -> Path:
    """The data root: env REIDZOO_DATA, else ./datasets."""
    return Path(os.environ.get("REIDZOO_DATA") or "datasets")


def has_layout(folder: Path, marker: Sequence[str]) -> bool:
    """True when every entry of `marker` exists in `folder`."""
    return all((folder / m).exists() for m in marker)


def find_dataset_dir(root: Optional[PathLike], folder_names: Sequence[str], marker: Sequence[str],
                     layout: str, name: str) -> Path:
    """Return the dataset folder: ``root`` itself when it holds ``marker`` entries, else
    ``root/<one of folder_names>``; otherwise raise an error that shows the expected layout."""
    root = Path(root) if root is not None else default_root()
    candidates = [root] + [root / f for f in folder_names]
    for c in candidates:
        if has_layout(c, marker):
            return c
    tried = ", ".join(str(c) for c in candidates)
    raise DatasetLayoutError(
        f"{name} not found (looked in {tried}). Pass the data root (or the dataset folder itself) "
        f"as root=..., or set REIDZOO_DATA. Expected layout:\n{layout}")


def list_images(folder: Path) -> List[Path]:
    """Image files of a folder, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)


def relabel(items: List[Item]) -> List[Item]:
    """Map person ids to 0..n-1 in sorted order."""
    mapping = {pid: i for i, pid in enumerate(sorted({pid for _, pid, _ in items}))}
    return [(p, mapping[pid], cam) for p, pid, cam in items]


class ReIDDataset:
    """A re-ID benchmark: ``train``, ``query``, ``gallery`` lists of (path, pid, camid)."""

    name = "dataset"
    expected: Dict[str, Tuple[int, Optional[int]]] = {}   # split -> (images, ids) of the full set

    def __init__(self) -> None:
        self.train: List[Item] = []
        self.query: List[Item] = []
        self.gallery: List[Item] = []
        self.dataset_dir: Optional[Path] = None

    @staticmethod
    def num_ids(items: List[Item]) -> int:
        return len({pid for _, pid, _ in items})

    @staticmethod
    def num_cams(items: List[Item]) -> int:
        return len({cam for _, _, cam in items})

    def summary(self) -> str:
        """A small table of images / ids / cameras per split."""
        rows = [f"{self.name}: split     images    ids  cams"]
        for split in ("train", "val", "query", "gallery"):
            items = getattr(self, split, None)
            if items is None or (split == "val" and not items):
                continue
            label = "val (unused)" if split == "val" and not getattr(self, "include_val", True) else split
            rows.append(f"  {label:<15}{len(items):>8}{self.num_ids(items):>7}{self.num_cams(items):>6}")
        return "\n".join(rows)

    def check_sizes(self) -> List[str]:
        """Compare with the published sizes; warn naming each difference. Returns the differences."""
        diffs = []
        for split, (n_img, n_ids) in self.expected.items():
            items = getattr(self, split)
            if len(items) != n_img:
                diffs.append(f"{split}: {len(items)} images, expected {n_img}")
            if n_ids is not None and self.num_ids(items) != n_ids:
                diffs.append(f"{split}: {self.num_ids(items)} identities, expected {n_ids}")
        if diffs:
            warnings.warn(f"{self.name} at {self.dataset_dir} differs from the published dataset: "
                          + "; ".join(diffs) + ". Incomplete download or a modified copy? Results will not "
                          "be comparable with published numbers.", stacklevel=3)
        return diffs
