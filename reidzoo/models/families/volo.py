"""VOLO zoo entries: timm's VOLO at ``img_size=(256, 128)``.

timm's VOLO keeps the original (sail-sg) naming, including the BatchNorm conv stem
(``patch_embed.conv.*``) and the (1, 16, 8, C) ``pos_embed`` of a 256x128 input, so the release
mapping is the identity. The releases carry no ``aux_head`` (it was replaced with
``nn.Identity``); the original forward returns the normalised class token, which is timm's
``forward_head`` with ``num_classes=0`` (token pooling, no aux head).
"""
from ..spec import ZooSpec

_KW = {"img_size": (256, 128)}

SPECS = [
    ZooSpec("volo_d1", "VOLO", "volo_d1_224", 384, _KW),
    ZooSpec("volo_d2", "VOLO", "volo_d2_224", 512, _KW),
    ZooSpec("volo_d3", "VOLO", "volo_d3_224", 512, _KW),
]
