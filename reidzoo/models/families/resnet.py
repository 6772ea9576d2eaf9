"""ResNet zoo entries: timm ResNets with stride 1 in the last stage (``resnet*_reid``).

The release checkpoints use torchvision's naming, which is timm's, so the mapping is the
identity; running statistics and ``num_batches_tracked`` load as they are.
"""
from .. import resnet_reid  # noqa: F401  (registers resnet*_reid with timm)
from ..spec import ZooSpec

# last_stride is the registered default too; spelt out so hub configs say it explicitly.
_KW = {"last_stride": 1}

SPECS = [
    ZooSpec("resnet18", "ResNet", "resnet18_reid", 512, _KW),
    ZooSpec("resnet50", "ResNet", "resnet50_reid", 2048, _KW),
    ZooSpec("resnet101", "ResNet", "resnet101_reid", 2048, _KW),
    ZooSpec("resnet152", "ResNet", "resnet152_reid", 2048, _KW),
]
