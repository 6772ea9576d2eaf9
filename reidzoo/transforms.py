"""Image preprocessing of the zoo, defined once from a model's `pretrained_cfg`: eval and training.

Every way an image reaches a zoo model goes through here: `model.transform`, `extract_features`
for file paths, PIL images, uint8 arrays and uint8 tensors, evaluation, and fine-tuning (its
eval path through `extract_features`, its training path through `train_transform`). The resize
is torchvision's antialiased resize on uint8 pixels, which matches PIL's `Image.resize` (what
the models were trained with) to within one grey level when upscaling.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Tuple, Union

import cv2
import numpy as np
import torch
from torchvision.transforms import v2 as T
from torchvision.transforms.v2 import functional as TF

from .models.spec import INPUT_SIZE, MEAN, STD

INTERPOLATIONS = {
    "bicubic": T.InterpolationMode.BICUBIC,
    "bilinear": T.InterpolationMode.BILINEAR,
    "nearest": T.InterpolationMode.NEAREST,
}


@dataclass(frozen=True)
class Preprocessing:
    """What a model expects: input (height, width), resize interpolation, normalisation mean/std."""

    size: Tuple[int, int] = (int(INPUT_SIZE[1]), int(INPUT_SIZE[2]))
    interpolation: str = "bicubic"
    mean: Tuple[float, float, float] = MEAN
    std: Tuple[float, float, float] = STD

    def __post_init__(self) -> None:
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation {self.interpolation!r} is not one of {sorted(INTERPOLATIONS)}")

    @classmethod
    def from_cfg(cls, cfg: Optional[Mapping[str, Any]]) -> "Preprocessing":
        """Read a timm-style pretrained_cfg (input_size [3,H,W], interpolation, mean, std)."""
        cfg = cfg or {}
        size = cfg.get("input_size", INPUT_SIZE)
        return cls(size=(int(size[-2]), int(size[-1])), interpolation=cfg.get("interpolation", "bicubic"),
                   mean=tuple(float(v) for v in cfg.get("mean", MEAN)),
                   std=tuple(float(v) for v in cfg.get("std", STD)))

    @classmethod
    def of(cls, model_or_cfg: Union[torch.nn.Module, Mapping[str, Any], "Preprocessing", None]) -> "Preprocessing":
        """The preprocessing of a model (its pretrained_cfg), a cfg mapping, or the zoo default for None."""
        if isinstance(model_or_cfg, Preprocessing):
            return model_or_cfg
        if isinstance(model_or_cfg, torch.nn.Module):
            return cls.from_cfg(getattr(model_or_cfg, "pretrained_cfg", None))
        return cls.from_cfg(model_or_cfg)


def read_image(path: Union[str, os.PathLike]) -> Optional[np.ndarray]:
    """An image file as an (H, W, 3) RGB uint8 array, or None when it cannot be decoded."""
    img = cv2.imread(os.fspath(path), cv2.IMREAD_COLOR)
    if img is None:
        return None
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def to_chw_tensor(image: Any) -> torch.Tensor:
    """PIL image, (H,W[,3]) array or (3,H,W) tensor -> (3,H,W) tensor, keeping uint8 pixels uint8."""
    if isinstance(image, torch.Tensor):
        x = image
    else:
        if hasattr(image, "convert") and hasattr(image, "mode"):  # a PIL image
            image = np.asarray(image.convert("RGB"))
        a = np.asarray(image)
        if a.ndim == 2:
            a = np.repeat(a[:, :, None], 3, axis=2)
        if a.ndim != 3 or a.shape[2] != 3:
            raise ValueError(f"an image array must be (H,W,3) RGB or (H,W) grey, got {a.shape}")
        if not a.flags.writeable:  # PIL's arrays are read-only; torch wants to own writable memory
            a = a.copy()
        x = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)
    if x.ndim < 3 or x.shape[-3] != 3:
        raise ValueError(f"an image tensor must be (3,H,W) or (N,3,H,W), got {tuple(x.shape)}")
    return x


class Resize:
    """Antialiased resize of (...,3,H,W) uint8 or [0,1] float tensors to the model's input size."""

    def __init__(self, prep: Preprocessing):
        self.size = list(prep.size)
        self.interpolation = INTERPOLATIONS[prep.interpolation]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if list(x.shape[-2:]) == self.size:
            return x
        y = TF.resize(x, self.size, interpolation=self.interpolation, antialias=True)
        # uint8 results are already clamped and rounded; float ones may overshoot with bicubic
        return y if y.dtype == torch.uint8 else y.clamp_(0.0, 1.0)


class Normalize:
    """uint8 (0..255) or float (0..1) pixels -> float32 normalised by the model's mean/std."""

    def __init__(self, prep: Preprocessing):
        std = torch.tensor(prep.std, dtype=torch.float32).view(3, 1, 1)
        self.mean = torch.tensor(prep.mean, dtype=torch.float32).view(3, 1, 1)
        self.inv_std = 1.0 / std

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.float32) / 255.0 if x.dtype == torch.uint8 else x.to(torch.float32)
        return (x - self.mean) * self.inv_std


def build_transform(model_or_cfg: Union[torch.nn.Module, Mapping[str, Any], Preprocessing, None] = None) -> T.Compose:
    """Eval preprocessing: image (PIL, uint8 array, tensor) -> normalised (3,H,W) float32 tensor."""
    prep = Preprocessing.of(model_or_cfg)
    return T.Compose([to_chw_tensor, Resize(prep), Normalize(prep)])


ERASING_FILLS = ("mean", "black", "noise")


def random_erasing(p: float, fill: str, prep: Preprocessing) -> Any:
    """Random erasing of a normalised image: fill 0 (the mean colour), black, or timm's per-pixel noise."""
    if fill == "mean":
        return T.RandomErasing(p=p, value=0)
    if fill == "black":  # pixel 0 before normalisation (fastreid's erasing with mean 0)
        return T.RandomErasing(p=p, value=[-m / s for m, s in zip(prep.mean, prep.std)])
    if fill == "noise":
        # the release's (TransReID): timm's RandomErasing, one region, normal noise per pixel
        from timm.data.random_erasing import RandomErasing
        return RandomErasing(probability=p, mode="pixel", max_count=1, device="cpu")
    raise ValueError(f"erasing fill must be one of {', '.join(ERASING_FILLS)}, got {fill!r}")


def train_transform(model_or_cfg: Union[torch.nn.Module, Mapping[str, Any], Preprocessing, None] = None,
                    pad: int = 10, flip: float = 0.5, erasing: float = 0.5, erasing_fill: str = "mean") -> T.Compose:
    """Training augmentation: the eval resize, then flip, pad-and-crop, normalise, random erasing."""
    prep = Preprocessing.of(model_or_cfg)
    ops = [to_chw_tensor, Resize(prep)]
    if flip > 0:
        ops.append(T.RandomHorizontalFlip(flip))
    if pad > 0:
        ops += [T.Pad(pad, padding_mode="constant"), T.RandomCrop(prep.size)]
    ops.append(Normalize(prep))
    if erasing > 0:
        ops.append(random_erasing(erasing, erasing_fill, prep))
    return T.Compose(ops)
