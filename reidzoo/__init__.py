"""ReIDZoo: person re-identification backbones pre-trained with CION, loadable in one line.

    import reidzoo
    model = reidzoo.load("convnext_tiny")          # eval-mode, (N,3,256,128) -> (N,768)
    feats = reidzoo.extract_features(model, paths, normalize=True)

`import reidzoo` imports neither torch nor timm: the names below and the submodules load on
first use (PEP 562), and the zoo architectures timm lacks are registered when timm is imported.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import TYPE_CHECKING, Any, List

from . import timm_hook

__version__ = "0.1.0"

# public name -> the submodule that defines it
_LAZY = {
    "load": "loading",
    "create_model": "models.registry",
    "list_models": "models.registry",
    "model_names": "models.registry",
    "get_spec": "models.registry",
    "UnknownModelError": "models.registry",
    "extract_features": "features",
    "save_hub_folder": "hub",
    "build_transform": "transforms",
}

__all__ = ["load", "create_model", "list_models", "model_names", "get_spec", "extract_features",
           "save_hub_folder", "build_transform", "UnknownModelError"]

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ imports on demand
    from .features import extract_features
    from .hub import save_hub_folder
    from .loading import load
    from .models.registry import UnknownModelError, create_model, get_spec, list_models, model_names
    from .transforms import build_transform


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f".{name}", __name__)  # reidzoo.evaluation etc. without importing them
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_LAZY))


def _numba_cache_in_user_cache() -> None:
    """numba's `cache=True` writes beside the source, i.e. into the installed package (read-only in many
    installs, shared in others); send it to the user's cache dir unless NUMBA_CACHE_DIR says otherwise."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    os.environ["NUMBA_CACHE_DIR"] = path = os.path.join(base, "reidzoo", "numba")
    config = sys.modules.get("numba.core.config")  # numba read the variable when it was imported
    if config is not None and not getattr(config, "CACHE_DIR", ""):
        config.CACHE_DIR = path


_numba_cache_in_user_cache()
timm_hook.install()
