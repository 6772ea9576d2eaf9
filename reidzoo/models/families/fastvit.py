"""FastViT zoo entries and the mapping from the original release naming to timm's.

PLACEHOLDER: release mapping not written yet (identity)."""
from ..spec import ZooSpec

SPECS = [
    ZooSpec('fastvit_s12', 'FastViT', 'fastvit_s12', 1024, {}),
    ZooSpec('fastvit_sa12', 'FastViT', 'fastvit_sa12', 1024, {}),
    ZooSpec('fastvit_sa24', 'FastViT', 'fastvit_sa24', 1024, {}),
]
