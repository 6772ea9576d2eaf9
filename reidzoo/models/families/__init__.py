"""One module per model family: its ZooSpec entries and its release-checkpoint name mapping.

Each module exposes ``SPECS: list[ZooSpec]``. Importing a family module also registers any
architecture timm lacks (with ``timm.models.register_model``) so ``timm.create_model`` builds it.
"""
from importlib import import_module
from typing import List

from ..spec import ZooSpec

FAMILY_MODULES = (
    "ghostnet", "edgenext", "repvit", "fastvit", "resnet", "resnet_ibn",
    "convnext", "volo", "vit", "swin",
)


def all_specs() -> List[ZooSpec]:
    """Every ZooSpec of every family, in the order of the families."""
    specs: List[ZooSpec] = []
    for mod in FAMILY_MODULES:
        specs.extend(import_module(f"{__name__}.{mod}").SPECS)
    return specs
