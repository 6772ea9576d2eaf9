"""ResNet zoo entries: timm ResNets with stride 1 in the last stage (``resnet*_reid``).

The release checkpoints use torchvision's naming, which is timm's, so the mapping is the
identity; running statistics and ``num_batches_tracked`` load as they are.
"""
from .. import resnet_reid  # noqa: F401  (registers resnet*_reid with timm)
from ..spec import PaperNumbers, ZooSpec

# last_stride is the registered default too; spelt out so hub configs say it explicitly.
_KW = {"last_stride": 1}

SPECS = [
    ZooSpec("resnet18", "ResNet", "resnet18_reid", 512, _KW,
            paper=PaperNumbers(11.18, 2.00, market1501=(89.3, 95.6), msmt17=(55.6, 79.6))),
    ZooSpec("resnet50", "ResNet", "resnet50_reid", 2048, _KW,
            paper=PaperNumbers(23.51, 4.09, market1501=(92.8, 96.8), msmt17=(67.7, 86.4))),
    ZooSpec("resnet101", "ResNet", "resnet101_reid", 2048, _KW,
            paper=PaperNumbers(42.50, 6.54, market1501=(94.0, 97.3), msmt17=(73.2, 88.8))),
    ZooSpec("resnet152", "ResNet", "resnet152_reid", 2048, _KW,
            paper=PaperNumbers(58.14, 8.98, market1501=(94.2, 97.1), msmt17=(74.5, 89.3))),
]
