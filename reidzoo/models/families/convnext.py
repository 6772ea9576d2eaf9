"""ConvNeXt zoo entries and the mapping from the original release naming to timm's.

PLACEHOLDER: release mapping not written yet (identity)."""
from ..spec import ZooSpec

SPECS = [
    ZooSpec('convnext_tiny', 'ConvNeXt', 'convnext_tiny', 768, {}),
    ZooSpec('convnext_small', 'ConvNeXt', 'convnext_small', 768, {}),
    ZooSpec('convnext_base', 'ConvNeXt', 'convnext_base', 1024, {}),
]
