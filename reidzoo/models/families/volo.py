"""VOLO zoo entries and the mapping from the original release naming to timm's.

PLACEHOLDER: release mapping not written yet (identity)."""
from ..spec import ZooSpec

SPECS = [
    ZooSpec('volo_d1', 'VOLO', 'volo_d1_224', 384, {'img_size': (256, 128)}),
    ZooSpec('volo_d2', 'VOLO', 'volo_d2_224', 512, {'img_size': (256, 128)}),
    ZooSpec('volo_d3', 'VOLO', 'volo_d3_224', 512, {'img_size': (256, 128)}),
]
