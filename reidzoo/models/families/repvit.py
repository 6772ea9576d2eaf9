"""RepViT zoo entries and the mapping from the original release naming to timm's.

PLACEHOLDER: release mapping not written yet (identity)."""
from ..spec import ZooSpec

SPECS = [
    ZooSpec('repvit_m0_9', 'RepViT', 'repvit_m0_9', 384, {}),
    ZooSpec('repvit_m1_0', 'RepViT', 'repvit_m1_0', 448, {}),
    ZooSpec('repvit_m1_5', 'RepViT', 'repvit_m1_5', 512, {}),
]
