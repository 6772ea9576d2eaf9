"""ReIDZoo: 32 person re-identification backbones pre-trained with CION, loadable in one line.

    import reidzoo
    model = reidzoo.load("convnext_tiny")          # eval-mode, (N,3,256,128) -> (N,768)
    feats = reidzoo.extract_features(model, paths, normalize=True)
"""
from .features import extract_features
from .hub import save_hub_folder
from .loading import load
from .transforms import build_transform
from .models.registry import UnknownModelError, create_model, get_spec, list_models, model_names

__all__ = ["load", "create_model", "list_models", "model_names", "get_spec", "extract_features",
           "save_hub_folder", "build_transform", "UnknownModelError"]
__version__ = "0.1.0"
