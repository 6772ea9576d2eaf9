"""Re-ID dataset readers: Market-1501, MSMT17 (V1/V2) and your own folders or list files.

    from reidzoo.data import Market1501, MSMT17
    ds = Market1501()                 # env REIDZOO_DATA or ./datasets
    ds.query[0]                       # ('.../query/0001_c1s1_001051_00.jpg', 1, 0)
    build_dataset("msmt17", "/data")  # by name: dataset_names() lists them, register_dataset adds yours
"""
from .base import DatasetLayoutError, Item, ReIDDataset, default_root
from .folder import FolderDataset
from .market1501 import Market1501, parse_market_name
from .msmt17 import MSMT17, msmt_camid
from .registry import build_dataset, dataset_names, register_dataset

__all__ = ["Market1501", "MSMT17", "FolderDataset", "ReIDDataset", "DatasetLayoutError", "Item",
           "default_root", "build_dataset", "dataset_names", "register_dataset", "parse_market_name", "msmt_camid"]
