"""FastViT zoo entries and the mapping from the original release naming to timm's.

timm's FastViT is apple/ml-fastvit re-organised into stages, and timm's own
``timm.models.fastvit.checkpoint_filter_fn`` renames the original checkpoint: ``patch_embed``
-> ``stem``, MobileOne branches ``rbr_conv``/``rbr_scale``/``rbr_skip`` -> ``conv_kxk``/
``conv_scale``/``identity``, ``lkb_origin`` -> ``large_conv``, ``convffn`` -> ``mlp``,
``layer_scale*`` -> ``layer_scale*.gamma``, ``conv_exp`` -> ``final_conv`` (with its SE
``reduce``/``expand`` -> ``fc1``/``fc2``), and the flat ``network.N`` list into
``stages.i.{downsample,pos_emb,blocks.j}`` (stage ends found from the ``network.N.proj``
downsamplers). timm builds the model un-fused (train-time branches), matching the release.
The forward is the original's: BatchNorm eps 1e-5, ``final_conv`` (conv_exp + SE) then global
average pooling, no classifier.
"""
from timm.models.fastvit import checkpoint_filter_fn

from ..spec import PaperNumbers, StateDict, ZooSpec


def from_release(state_dict: StateDict, model) -> StateDict:
    """apple/ml-fastvit names (patch_embed / network.N / conv_exp) -> timm's FastVit."""
    return checkpoint_filter_fn(state_dict, model)


SPECS = [
    ZooSpec("fastvit_s12", "FastViT", "fastvit_s12", 1024, {}, from_release,
            paper=PaperNumbers(8.45, 0.93, market1501=(91.2, 96.4), msmt17=(59.0, 81.4))),
    ZooSpec("fastvit_sa12", "FastViT", "fastvit_sa12", 1024, {}, from_release,
            paper=PaperNumbers(10.56, 1.00, market1501=(90.9, 95.8), msmt17=(59.0, 81.6))),
    ZooSpec("fastvit_sa24", "FastViT", "fastvit_sa24", 1024, {}, from_release,
            paper=PaperNumbers(20.53, 1.92, market1501=(92.9, 96.9), msmt17=(69.6, 87.6))),
]
