"""ConvNeXt zoo entries: timm's ConvNeXt at 256x128; releases use the official (FAIR) naming.

timm's own ``convnext.checkpoint_filter_fn`` maps the FAIR names (``downsample_layers``,
``dwconv``, ``pwconv1/2``, ``gamma``, final ``norm`` -> ``head.norm``) to timm's. The original
forward (mean over H, W, then LayerNorm) is timm's ``forward_head`` with ``num_classes=0``.
"""
from timm.models.convnext import checkpoint_filter_fn

from ..spec import ZooSpec

SPECS = [
    ZooSpec("convnext_tiny", "ConvNeXt", "convnext_tiny", 768, {}, checkpoint_filter_fn),
    ZooSpec("convnext_small", "ConvNeXt", "convnext_small", 768, {}, checkpoint_filter_fn),
    ZooSpec("convnext_base", "ConvNeXt", "convnext_base", 1024, {}, checkpoint_filter_fn),
]
