"""ViT zoo entries and the mapping from the original release naming to timm's.

PLACEHOLDER: release mapping not written yet (identity)."""
from ..spec import ZooSpec

SPECS = [
    ZooSpec('vit_tiny', 'ViT', 'vit_tiny_reid_convstem', 192, {'img_size': (256, 128)}),
    ZooSpec('vit_small', 'ViT', 'vit_small_reid_convstem', 384, {'img_size': (256, 128)}),
    ZooSpec('vit_base', 'ViT', 'vit_base_reid_convstem', 768, {'img_size': (256, 128)}),
]
