"""ResNet-IBN-a zoo entries (``resnet*_ibn_a``, registered with timm by ``reidzoo.models.resnet_reid``).

The IBN layers keep the original submodule names (``bn1.IN.*``, ``bn1.BN.*``) and everything
else is torchvision/timm naming, so the release mapping is the identity.
"""
from .. import resnet_reid  # noqa: F401  (registers resnet*_ibn_a with timm)
from ..spec import ZooSpec

_KW = {"last_stride": 1}

SPECS = [
    ZooSpec("resnet18_ibn", "ResNet-IBN", "resnet18_ibn_a", 512, _KW),
    ZooSpec("resnet50_ibn", "ResNet-IBN", "resnet50_ibn_a", 2048, _KW),
    ZooSpec("resnet101_ibn", "ResNet-IBN", "resnet101_ibn_a", 2048, _KW),
    ZooSpec("resnet152_ibn", "ResNet-IBN", "resnet152_ibn_a", 2048, _KW),
]
