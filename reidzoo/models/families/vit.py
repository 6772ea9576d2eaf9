"""ViT zoo entries: timm VisionTransformer with the IBN conv stem (``vit_*_reid_convstem``).

The stem keeps the original TransReID-SSL names (``patch_embed.conv.{0..8}``, ``patch_embed.proj``)
and the transformer part is timm's, whose names match the original ones (``cls_token``,
``pos_embed`` of 1 + 16*8 tokens, ``blocks.*``, ``norm``); the release classifier ``fc`` was an
``nn.Identity``. The mapping is therefore the identity and the output is the normalised class
token (timm's token pooling).
"""
from .. import vit_convstem  # noqa: F401  (registers vit_*_reid_convstem with timm)
from ..spec import PaperNumbers, ZooSpec

_KW = {"img_size": (256, 128)}

SPECS = [
    ZooSpec("vit_tiny", "ViT", "vit_tiny_reid_convstem", 192, _KW,
            paper=PaperNumbers(6.43, 1.55, market1501=(91.4, 96.3), msmt17=(65.0, 84.6), backbone_params_m=6.23)),
    ZooSpec("vit_small", "ViT", "vit_small_reid_convstem", 384, _KW,
            paper=PaperNumbers(23.39, 3.79, market1501=(92.8, 96.5), msmt17=(70.3, 86.9), backbone_params_m=23.00)),
    ZooSpec("vit_base", "ViT", "vit_base_reid_convstem", 768, _KW,
            paper=PaperNumbers(89.15, 12.37, market1501=(93.1, 96.9), msmt17=(72.6, 88.5), backbone_params_m=88.39)),
]
