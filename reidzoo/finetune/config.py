"""Fine-tuning configuration: plain data, read from YAML, overridable from the command line."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, Literal, Optional, Sequence, Tuple, Union

from ..config_loader import ConfigError, check_ranges, config_from_dict, config_to_dict, load_config
from ..devices import check_device_name

PathLike = Union[str, os.PathLike]


@dataclass
class FinetuneConfig:
    """Every knob of a fine-tuning run (defaults: the BoT strong baseline, scaled for short runs)."""

    model: str = "resnet50_ibn"          # zoo name
    init: Optional[str] = None           # hub folder / release .pth / pre-training export; None = `pretrained`
    pretrained: bool = False             # without `init`: True = zoo weights from the Hub, False = random
    dataset: str = "market1501"          # a name from reidzoo.data.dataset_names(), or a folder
    root: Optional[str] = None           # data root (default env REIDZOO_DATA or datasets/)
    input_size: Optional[Tuple[int, int]] = None  # (H, W) for training and evaluation; None: the model's (256x128)
    train_fraction: Optional[float] = None  # few-shot: train on this share of the train identities ...
    train_ids: Optional[int] = None      # ... or on this many (a subset seeded by `seed`)
    epochs: int = 60
    p: int = 16                          # identities per batch
    k: int = 4                           # images per identity
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = 3.5e-4
    momentum: float = 0.9                # sgd only
    nesterov: bool = True                # sgd only (the release's SGD: false)
    classifier_lr_factor: float = 1.0    # the identity classifier's lr = lr x this
    bias_lr_factor: float = 1.0          # parameters named *bias*: lr x this (the release: 2)
    weight_decay: float = 5e-4
    weight_decay_bias: Optional[float] = None  # weight decay of the *bias* parameters; None = weight_decay
    warmup_epochs: int = 10
    warmup_factor: float = 0.1           # the warm-up starts at lr x this and rises linearly
    schedule: Literal["cosine", "step", "timm_cosine"] = "cosine"  # timm_cosine: the release's (docs/finetune.md)
    delay_epochs: int = 0                # cosine: hold lr until this epoch (after warm-up), then decay
    steps: Tuple[int, ...] = (40, 55)             # epochs of the x0.1 steps for schedule=step
    min_lr: float = 1e-6
    min_lr_factor: Optional[float] = None  # set: the final lr is lr x this instead of min_lr
    freeze_iters: int = 0                # the backbone stays frozen for the first N iterations
    label_smoothing: float = 0.1         # 0 = plain cross-entropy
    triplet_margin: Optional[float] = 0.3  # None = soft margin
    triplet_normalize: bool = True       # triplet on L2-normalised features (false: BoT; can kill a ReLU head)
    method: Literal["bnneck", "mgn"] = "bnneck"  # mgn: ResNet / ResNet-IBN only (docs/finetune.md)
    id_weight: float = 1.0
    triplet_weight: float = 1.0
    pixel_mean: Optional[Tuple[float, float, float]] = None  # None = the model's (ImageNet) statistics
    pixel_std: Optional[Tuple[float, float, float]] = None
    flip: float = 0.5
    pad: int = 10
    erasing: float = 0.5
    erasing_fill: Literal["mean", "black", "noise"] = "mean"  # 0 after / 0 before normalising / timm's noise
    drop_path: Optional[float] = None    # stochastic depth, for the families that have it (docs/finetune.md)
    last_stride: Optional[int] = None    # ResNet families; None = the zoo's (1)
    stride_size: Optional[Tuple[int, int]] = None  # ViT patch stride; the zoo ViTs only take (16, 16)
    stem_conv: Optional[bool] = None     # ViT conv stem as the release config states it (docs/finetune.md)
    test_feature: Literal["before", "after"] = "before"  # the feature evaluated: before / after the BN neck
    test_normalize: bool = True          # L2-normalise test features (cosine ranking)
    eval_every: int = 10
    batch_size_eval: int = 128
    num_workers: int = 2
    max_iters_per_epoch: Optional[int] = None  # cap for quick runs
    seed: int = 0
    device: str = "cpu"
    extra: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # ranges the types cannot say (`epochs: -1`, `lr: 0`, `flip: 1.5`); None values pass
        check_ranges(self, minimum=dict(epochs=1, p=1, k=1, warmup_epochs=0, delay_epochs=0, steps=0, min_lr=0,
                                        min_lr_factor=0, freeze_iters=0, weight_decay=0, weight_decay_bias=0,
                                        label_smoothing=0, triplet_margin=0, id_weight=0, triplet_weight=0, pad=0,
                                        eval_every=1, batch_size_eval=1, num_workers=0, max_iters_per_epoch=1,
                                        train_ids=1, seed=0, input_size=1, last_stride=1, stride_size=1),
                     positive=("lr", "classifier_lr_factor", "bias_lr_factor", "warmup_factor", "pixel_std"),
                     fraction=("train_fraction", "flip", "erasing", "label_smoothing", "momentum", "drop_path"))
        if self.train_fraction == 0:
            raise ConfigError("train_fraction must be > 0 (a share of the train identities)")
        try:
            check_device_name(self.device, allow_auto=False)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    @classmethod
    def from_yaml(cls, path: Optional[PathLike] = None, overrides: Sequence[str] = (),
                  base: Optional["FinetuneConfig"] = None, **values: Any) -> "FinetuneConfig":
        """`base` (or the defaults), the YAML at `path`, then `values` (None keeps), then `key=value` overrides."""
        cfg = load_config(cls, path, base=base)
        given = {k: v for k, v in values.items() if v is not None}
        cfg = config_from_dict(cls, given, "command line", cfg)
        return load_config(cls, None, overrides, base=cfg)

    def to_dict(self) -> Dict[str, Any]:
        """JSON/YAML-friendly plain dict."""
        return config_to_dict(self)
