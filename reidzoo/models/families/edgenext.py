"""EdgeNeXt zoo entries and the mapping from the original release naming to timm's.

PLACEHOLDER: release mapping not written yet (identity)."""
from ..spec import ZooSpec

SPECS = [
    ZooSpec('edgenext_x_small', 'EdgeNeXt', 'edgenext_x_small', 192, {}),
    ZooSpec('edgenext_small', 'EdgeNeXt', 'edgenext_small', 304, {}),
    ZooSpec('edgenext_base', 'EdgeNeXt', 'edgenext_base', 584, {}),
]
