"""Re-ID dataset readers: Market-1501, MSMT17 (V1/V2) and your own folders or list files.

    from reidzoo.data import Market1501, MSMT17
    ds = Market1501()                 # env REIDZOO_DATA or ./datasets
    ds.query[0]                       # ('.../query/0001_c1s1_001051_00.jpg', 1, 0)
"""
from .base import DatasetLayoutError, Item, ReIDDataset, default_root
from .folder import FolderDataset
from .market1501 import Market1501, parse_market_name
from .msmt17 import MSMT17, msmt_camid

DATASETS = {"market1501": Market1501, "msmt17": MSMT17}


def build_dataset(name: str, root=None, **kwargs) -> ReIDDataset:
    """A reader by name: 'market1501', 'msmt17', or a path to your own folder (FolderDataset)."""
    key = name.lower().replace("-", "").replace("_", "")
    if key in DATASETS:
        return DATASETS[key](root, **kwargs)
    from pathlib import Path
    if Path(name).is_dir():
        return FolderDataset(name, **kwargs)
    raise ValueError(f"unknown dataset {name!r}: use one of {sorted(DATASETS)} or a folder path")


__all__ = ["Market1501", "MSMT17", "FolderDataset", "ReIDDataset", "DatasetLayoutError", "Item",
           "default_root", "build_dataset", "parse_market_name", "msmt_camid", "DATASETS"]
