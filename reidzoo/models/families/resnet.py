"""ResNet zoo entries and the mapping from the original release naming to timm's.

PLACEHOLDER: release mapping not written yet (identity)."""
from ..spec import ZooSpec

SPECS = [
    ZooSpec('resnet18', 'ResNet', 'resnet18', 512, {}),
    ZooSpec('resnet50', 'ResNet', 'resnet50', 2048, {}),
    ZooSpec('resnet101', 'ResNet', 'resnet101', 2048, {}),
    ZooSpec('resnet152', 'ResNet', 'resnet152', 2048, {}),
]
