"""GhostNet zoo entries and the mapping from the original release naming to timm's.

The ReIDZoo GhostNets were built with timm's own (v1) GhostNet, so the release already uses
timm's names: ``conv_stem``/``bn1``, ``blocks.i.j.{ghost1,ghost2}.{primary_conv,cheap_operation}``,
``conv_dw``/``bn_dw``, ``se.conv_reduce``/``se.conv_expand`` (hard-sigmoid gate, width rounded
to 4), ``shortcut.0..3``, the final ``blocks.9.0`` ConvBnAct (``conv``/``bn1``) and
``conv_head``. The mapping is therefore the identity (the strict load in ``release.py`` still
rejects a missing or extra key). Forward at 256x128: blocks, global average pooling,
``conv_head`` (960 -> 1280, with bias) and ReLU; no classifier. BatchNorm eps is 1e-5.
The fixture output is reproduced bit-exactly.
"""
from ..spec import PaperNumbers, ZooSpec

SPECS = [
    ZooSpec("ghostnet_0_5", "GhostNet", "ghostnet_050", 1280, {},
            paper=PaperNumbers(1.31, 0.03, market1501=(81.0, 92.0), msmt17=(39.6, 65.4))),
    ZooSpec("ghostnet_1_0", "GhostNet", "ghostnet_100", 1280, {},
            paper=PaperNumbers(3.90, 0.10, market1501=(87.7, 95.1), msmt17=(53.7, 76.9))),
    ZooSpec("ghostnet_1_3", "GhostNet", "ghostnet_130", 1280, {},
            paper=PaperNumbers(6.08, 0.16, market1501=(88.8, 95.2), msmt17=(55.4, 78.1))),
]
