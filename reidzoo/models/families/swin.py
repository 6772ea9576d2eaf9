"""Swin zoo entries: timm's Swin at 256x128 with window 8 in every stage.

The releases come from the detection-style Swin backbone (Microsoft's Swin for object detection):
downsampling at the *end* of each stage (``layers.i.downsample``), an output norm per returned
stage (only ``norm3``, for the last one), the ``relative_position_index`` buffers in the state
dict, and a window of 8 kept even where the feature map is smaller (the last stage is 8x4, padded
to one 8x8 window). timm reproduces that with ``always_partition=True``; the features are the
average of the normalised last stage, i.e. timm's ``forward_head`` with ``num_classes=0``.

Conversion: ``norm3`` -> ``norm``; every ``relative_position_index`` is compared with the one timm
computes (they must be equal) and then dropped, as timm keeps it as a non-persistent buffer;
timm's ``swin_transformer.checkpoint_filter_fn`` moves ``layers.i.downsample`` to
``layers.{i+1}.downsample``. Tensors that timm's filter would silently resample (bias tables,
patch projection) must already have the model's shape.
"""
from typing import Dict

import torch
from timm.models.swin_transformer import checkpoint_filter_fn

from ..release import CheckpointError
from ..spec import PaperNumbers, ZooSpec

_INDEX = ".relative_position_index"
_TABLE = ".relative_position_bias_table"


def _attention(model: torch.nn.Module, key: str, suffix: str) -> torch.nn.Module:
    try:
        return model.get_submodule(key[: -len(suffix)])
    except AttributeError as exc:
        raise KeyError(key) from exc


def from_release(state_dict: Dict[str, torch.Tensor], model: torch.nn.Module) -> Dict[str, torch.Tensor]:
    """Detection-Swin release names -> timm names, with the position buffers checked."""
    renamed: Dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key.startswith("norm3."):
            key = "norm." + key[len("norm3."):]
        if key.endswith(_INDEX):
            own = _attention(model, key, _INDEX).relative_position_index
            if tuple(value.shape) != tuple(own.shape) or not torch.equal(value.to(own.dtype), own):
                raise CheckpointError(
                    f"{key} in the checkpoint differs from the index timm computes for a window of "
                    f"{tuple(_attention(model, key, _INDEX).window_size)}: the file was made for another window size")
            continue
        if key.endswith(_TABLE):
            own = _attention(model, key, _TABLE).relative_position_bias_table
            if tuple(value.shape) != tuple(own.shape):
                raise CheckpointError(f"{key} has shape {tuple(value.shape)}, the model needs {tuple(own.shape)}: "
                                      f"the file was made for another window size")
        elif key == "patch_embed.proj.weight" and tuple(value.shape) != tuple(model.patch_embed.proj.weight.shape):
            raise CheckpointError(f"{key} has shape {tuple(value.shape)}, the model needs "
                                  f"{tuple(model.patch_embed.proj.weight.shape)}: another Swin variant?")
        renamed[key] = value
    return checkpoint_filter_fn(renamed, model)


_KW = {"img_size": (256, 128), "window_size": 8, "always_partition": True}

SPECS = [
    ZooSpec("swin_tiny", "Swin", "swin_tiny_patch4_window7_224", 768, _KW, from_release,
            paper=PaperNumbers(27.53, 3.13, market1501=(92.5, 97.0), msmt17=(71.1, 87.6))),
    ZooSpec("swin_small", "Swin", "swin_small_patch4_window7_224", 768, _KW, from_release,
            paper=PaperNumbers(48.85, 5.93, market1501=(93.6, 96.8), msmt17=(76.0, 89.6))),
    ZooSpec("swin_base", "Swin", "swin_base_patch4_window7_224", 1024, _KW, from_release,
            paper=PaperNumbers(86.76, 10.44, market1501=(94.0, 96.9), msmt17=(76.7, 90.3))),
]
