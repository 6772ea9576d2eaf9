"""ResNet-IBN-a zoo entries (``resnet*_ibn_a``, registered with timm by ``reidzoo.models.resnet_reid``).

The IBN layers keep the original submodule names (``bn1.IN.*``, ``bn1.BN.*``) and everything
else is torchvision/timm naming, so the release mapping is the identity.
"""
from .. import resnet_reid  # noqa: F401  (registers resnet*_ibn_a with timm)
from ..spec import PaperNumbers, ZooSpec

_KW = {"last_stride": 1}

SPECS = [
    ZooSpec("resnet18_ibn", "ResNet-IBN", "resnet18_ibn_a", 512, _KW,
            paper=PaperNumbers(11.18, 2.00, market1501=(90.0, 96.0), msmt17=(56.1, 79.5))),
    ZooSpec("resnet50_ibn", "ResNet-IBN", "resnet50_ibn_a", 2048, _KW,
            paper=PaperNumbers(23.51, 4.09, market1501=(93.7, 96.9), msmt17=(72.3, 88.5))),
    ZooSpec("resnet101_ibn", "ResNet-IBN", "resnet101_ibn_a", 2048, _KW,
            paper=PaperNumbers(42.50, 6.54, market1501=(94.3, 97.3), msmt17=(75.8, 89.8))),
    ZooSpec("resnet152_ibn", "ResNet-IBN", "resnet152_ibn_a", 2048, _KW,
            paper=PaperNumbers(58.14, 8.98, market1501=(94.6, 97.6), msmt17=(76.7, 90.3))),
]
