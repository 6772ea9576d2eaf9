"""ConvNeXt zoo entries: timm's ConvNeXt at 256x128; releases use the official (FAIR) naming.

timm's own ``convnext.checkpoint_filter_fn`` maps the FAIR names (``downsample_layers``,
``dwconv``, ``pwconv1/2``, ``gamma``, final ``norm`` -> ``head.norm``) to timm's. The original
forward (mean over H, W, then LayerNorm) is timm's ``forward_head`` with ``num_classes=0``.
"""
from timm.models.convnext import checkpoint_filter_fn

from ..spec import PaperNumbers, ZooSpec

SPECS = [
    ZooSpec("convnext_tiny", "ConvNeXt", "convnext_tiny", 768, {}, checkpoint_filter_fn,
            paper=PaperNumbers(27.82, 2.92, market1501=(92.0, 96.9), msmt17=(68.9, 87.3))),
    ZooSpec("convnext_small", "ConvNeXt", "convnext_small", 768, {}, checkpoint_filter_fn,
            paper=PaperNumbers(49.45, 5.68, market1501=(92.9, 96.8), msmt17=(69.9, 88.0))),
    ZooSpec("convnext_base", "ConvNeXt", "convnext_base", 1024, {}, checkpoint_filter_fn,
            paper=PaperNumbers(87.57, 10.04, market1501=(93.4, 96.9), msmt17=(72.7, 89.0))),
]
