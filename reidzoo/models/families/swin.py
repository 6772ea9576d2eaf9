"""Swin zoo entries and the mapping from the original release naming to timm's.

PLACEHOLDER: release mapping not written yet (identity)."""
from ..spec import ZooSpec

SPECS = [
    ZooSpec('swin_tiny', 'Swin', 'swin_tiny_patch4_window7_224', 768, {'img_size': (256, 128), 'window_size': 8}),
    ZooSpec('swin_small', 'Swin', 'swin_small_patch4_window7_224', 768, {'img_size': (256, 128), 'window_size': 8}),
    ZooSpec('swin_base', 'Swin', 'swin_base_patch4_window7_224', 1024, {'img_size': (256, 128), 'window_size': 8}),
]
