"""GhostNet zoo entries and the mapping from the original release naming to timm's.

PLACEHOLDER: release mapping not written yet (identity)."""
from ..spec import ZooSpec

SPECS = [
    ZooSpec('ghostnet_0_5', 'GhostNet', 'ghostnet_050', 1280, {}),
    ZooSpec('ghostnet_1_0', 'GhostNet', 'ghostnet_100', 1280, {}),
    ZooSpec('ghostnet_1_3', 'GhostNet', 'ghostnet_130', 1280, {}),
]
