"""Fine-tuning configuration: plain data, read from YAML, overridable from the command line."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Sequence, Tuple, Union

from ..config_loader import config_from_dict, config_to_dict, load_config

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
    optimizer: str = "adam"              # adam | sgd
    lr: float = 3.5e-4
    classifier_lr_factor: float = 1.0    # the identity classifier's lr = lr x this
    weight_decay: float = 5e-4
    warmup_epochs: int = 10
    schedule: str = "cosine"             # cosine | step
    steps: Tuple[int, ...] = (40, 55)             # epochs of the x0.1 steps for schedule=step
    min_lr: float = 1e-6
    label_smoothing: float = 0.1
    triplet_margin: Optional[float] = 0.3  # None = soft margin
    triplet_normalize: bool = True       # triplet on L2-normalised features (false: BoT; can kill a ReLU head)
    id_weight: float = 1.0
    triplet_weight: float = 1.0
    flip: float = 0.5
    pad: int = 10
    erasing: float = 0.5
    eval_every: int = 10
    batch_size_eval: int = 128
    num_workers: int = 2
    max_iters_per_epoch: Optional[int] = None  # cap for quick runs
    seed: int = 0
    device: str = "cpu"
    extra: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_yaml(cls, path: Optional[PathLike] = None, overrides: Sequence[str] = (),
                  **values: Any) -> "FinetuneConfig":
        """The YAML at `path` (or the defaults), then `values` (None keeps), then `key=value` overrides."""
        cfg = load_config(cls, path)
        given = {k: v for k, v in values.items() if v is not None}
        cfg = config_from_dict(cls, given, "command line", cfg)
        return load_config(cls, None, overrides, base=cfg)

    def to_dict(self) -> Dict[str, Any]:
        """JSON/YAML-friendly plain dict."""
        return config_to_dict(self)
