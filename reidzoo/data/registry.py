"""The dataset registry: one name -> reader table that fine-tuning, evaluation and every CLI choose from.

    from reidzoo.data import register_dataset, build_dataset
    register_dataset("mydata", MyReader)     # MyReader(root, **kwargs) -> .train/.query/.gallery
    ds = build_dataset("mydata", "/data")
"""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Callable, Dict, List

from .base import PathLike, ReIDDataset, has_layout
from .folder import FolderDataset
from .market1501 import Market1501
from .msmt17 import MSMT17

DatasetFactory = Callable[..., ReIDDataset]
_REGISTRY: Dict[str, DatasetFactory] = {}


def _key(name: str) -> str:
    # 'Market-1501', 'market_1501' and 'market1501' name the same set
    return name.lower().replace("-", "").replace("_", "")


def register_dataset(name: str, cls: DatasetFactory, overwrite: bool = False) -> DatasetFactory:
    """Make `cls` (called as cls(root, **kwargs), returning .train/.query/.gallery) available as `name`."""
    key = _key(name)
    if not key:
        raise ValueError("a dataset name needs at least one letter or digit")
    if key in _REGISTRY and _REGISTRY[key] is not cls and not overwrite:
        raise ValueError(f"dataset {name!r} is already registered to {getattr(_REGISTRY[key], '__name__', _REGISTRY[key])}; "
                         f"pass overwrite=True to replace it")
    _REGISTRY[key] = cls
    return cls


def dataset_names() -> List[str]:
    """The registered dataset names, sorted (the choices every CLI offers)."""
    return sorted(_REGISTRY)


def build_dataset(name: str, root: PathLike | None = None, **kwargs) -> ReIDDataset:
    """A reader by registered name, or by a folder path: Market-1501 or MSMT17 by their layout, else
    your own set (FolderDataset)."""
    key = _key(name)
    if key in _REGISTRY:
        return _REGISTRY[key](root, **kwargs)
    folder = Path(name)
    if folder.is_dir():
        for reader in (Market1501, MSMT17):
            if has_layout(folder, reader.markers):
                return reader(folder, **kwargs)
        return FolderDataset(folder, **kwargs)
    raise ValueError(f"unknown dataset {name!r}: use one of {', '.join(dataset_names())} or a folder path "
                     f"(reidzoo.data.register_dataset adds your own)")


register_dataset("market1501", Market1501)
register_dataset("msmt17", MSMT17)
# the list_train + list_val training set, as some papers train; plain "msmt17" follows fast-reid / torchreid
register_dataset("msmt17_trainval", partial(MSMT17, include_val=True))
# the synthetic benchmark written by `reidzoo synthetic market` is a Market-1501-format folder
register_dataset("synthetic", Market1501)
