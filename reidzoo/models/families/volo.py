"""VOLO zoo entries: timm's VOLO at ``img_size=(256, 128)``.

timm's VOLO keeps the original (sail-sg) naming, including the BatchNorm conv stem
(``patch_embed.conv.*``) and the (1, 16, 8, C) ``pos_embed`` of a 256x128 input, so the release
mapping is the identity. The releases carry no ``aux_head`` (it was replaced with
``nn.Identity``); the original forward returns the normalised class token, which is timm's
``forward_head`` with ``num_classes=0`` (token pooling, no aux head).
"""
from ..spec import PaperNumbers, ZooSpec

_KW = {"img_size": (256, 128)}

# pretrain=(batch, locals): VOLO upsamples 128x64 local crops (it cannot take them natively), so fewer locals
SPECS = [
    ZooSpec("volo_d1", "VOLO", "volo_d1_224", 384, _KW,
            paper=PaperNumbers(25.84, 4.40, market1501=(93.0, 96.9), msmt17=(73.9, 88.7)),
            pretrain=(96, 4)),
    ZooSpec("volo_d2", "VOLO", "volo_d2_224", 512, _KW,
            paper=PaperNumbers(57.62, 9.15, market1501=(92.1, 96.4), msmt17=(70.9, 87.5)),
            pretrain=(48, 4)),
    ZooSpec("volo_d3", "VOLO", "volo_d3_224", 512, _KW,
            paper=PaperNumbers(85.26, 13.26, market1501=(90.5, 95.7), msmt17=(62.8, 83.0)),
            pretrain=(48, 4)),
]
