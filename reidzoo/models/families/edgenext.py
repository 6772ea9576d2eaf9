"""EdgeNeXt zoo entries and the mapping from the original release naming to timm's.

timm's EdgeNeXt is the mmaaz60/EdgeNeXt model re-organised into stages, and timm ships the
renaming (``timm.models.edgenext.checkpoint_filter_fn``): ``downsample_layers.0`` -> ``stem``,
``downsample_layers.i`` -> ``stages.i.downsample``, ``stages.i.j`` -> ``stages.i.blocks.j``,
``dwconv``/``pwconv1``/``pwconv2`` -> ``conv_dw``/``mlp.fc1``/``mlp.fc2``, final ``norm`` ->
``head.norm``. The forward is the original's: all LayerNorms use eps 1e-6, the head averages
over H x W and then applies the LayerNorm, and the release has no classifier.
"""
from timm.models.edgenext import checkpoint_filter_fn

from ..spec import PaperNumbers, StateDict, ZooSpec


def from_release(state_dict: StateDict, model) -> StateDict:
    """mmaaz60/EdgeNeXt names (downsample_layers / stages.i.j / pwconv / norm) -> timm's EdgeNeXt."""
    try:
        return checkpoint_filter_fn(state_dict, model)
    except (KeyError, RuntimeError):
        # timm's filter looks up and reshapes every 2-D tensor to the model's shape, so a tensor
        # this model lacks or cannot hold (another EdgeNeXt size, an extra key) raises there.
        # Rename without reshaping instead, and let the strict load report every mismatch.
        pass
    out: StateDict = {}
    for key, value in state_dict.items():
        (new_key, _), = checkpoint_filter_fn({key: value.reshape(-1)}, model).items()
        out[new_key] = value
    return out


SPECS = [
    ZooSpec("edgenext_x_small", "EdgeNeXt", "edgenext_x_small", 192, {}, from_release,
            paper=PaperNumbers(2.14, 0.27, market1501=(88.7, 94.7), msmt17=(57.9, 79.8))),
    ZooSpec("edgenext_small", "EdgeNeXt", "edgenext_small", 304, {}, from_release,
            paper=PaperNumbers(5.28, 0.63, market1501=(91.3, 96.1), msmt17=(63.2, 83.2))),
    ZooSpec("edgenext_base", "EdgeNeXt", "edgenext_base", 584, {}, from_release,
            paper=PaperNumbers(17.93, 1.92, market1501=(92.4, 96.8), msmt17=(68.6, 86.6))),
]
