"""ResNet-IBN zoo entries and the mapping from the original release naming to timm's.

PLACEHOLDER: release mapping not written yet (identity)."""
from ..spec import ZooSpec

SPECS = [
    ZooSpec('resnet18_ibn', 'ResNet-IBN', 'resnet18_ibn_a', 512, {}),
    ZooSpec('resnet50_ibn', 'ResNet-IBN', 'resnet50_ibn_a', 2048, {}),
    ZooSpec('resnet101_ibn', 'ResNet-IBN', 'resnet101_ibn_a', 2048, {}),
    ZooSpec('resnet152_ibn', 'ResNet-IBN', 'resnet152_ibn_a', 2048, {}),
]
