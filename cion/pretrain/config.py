"""Pre-training configuration: one dataclass, read from YAML plus `key=value` overrides."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Literal, Optional, Sequence

from reidzoo.config_loader import ConfigError, check_ranges
from reidzoo.config_loader import config_from_dict as _from_dict
from reidzoo.config_loader import config_to_dict
from reidzoo.config_loader import load_config as _load

from reidzoo.devices import check_device_name

from .augment import MultiCropConfig


@dataclass
class PretrainConfig:
    """Every knob of a CION pre-training run; defaults are the public release's (docs/design.md).

    Per-model sizing comes from the zoo record: `zoo_config(name)` / `cion pretrain --model NAME`.
    """

    # model
    model: str = "resnet50_ibn"
    init_weights: Optional[str] = None          # hub folder / .safetensors / release .pth to start from
    out_dim: int = 65336
    hidden_dim: int = 2048
    bottleneck_dim: int = 256
    head_layers: int = 3
    norm_last_layer: bool = True
    use_bn_in_head: bool = False
    # data
    image_root: str = "datasets/CION-AL"
    annotations: str = "datasets/CION-AL/cional_annos.json"
    allow_absolute_paths: bool = False          # annotation file_paths must be relative to image_root unless true
    num_workers: int = 4
    # the multi-crop recipe: view sizes, crop counts and scales, flip, colour jitter, grey, blur, solarisation
    augment: MultiCropConfig = field(default_factory=MultiCropConfig)
    # batches: images per GPU (P x K); K grows with the epochs
    batch_size_per_gpu: int = 120
    gradual_epochs: List[int] = field(default_factory=lambda: [40, 60, 80, 100])
    gradual_instances: List[int] = field(default_factory=lambda: [2, 4, 6, 8])
    max_steps_per_epoch: int = 0                # 0: the whole epoch; >0 caps it (smoke runs)
    # optimisation
    epochs: int = 100
    optimizer: Literal["adamw", "sgd", "lars"] = "adamw"
    lr: float = 5e-4                            # per 256 images of global batch
    min_lr: float = 1e-6
    warmup_epochs: int = 10
    weight_decay: float = 0.04
    weight_decay_end: float = 0.4
    momentum_teacher: float = 0.996
    teacher_temp: float = 0.04
    warmup_teacher_temp: float = 0.04
    warmup_teacher_temp_epochs: int = 0
    student_temp: float = 0.1
    center_momentum: float = 0.9
    centering: Literal["ema", "sinkhorn"] = "ema"  # ema (the paper's, default) | sinkhorn (DINOv2/SwAV; small batches)
    sinkhorn_iterations: int = 3
    clip_grad: float = 3.0
    freeze_last_layer: int = 1
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"  # auto: fp32 on CPU, bf16 or fp16 on GPU
    # run
    output_dir: str = "runs/pretrain"
    seed: int = 0
    device: str = "auto"                        # auto | cpu | cuda
    save_every_steps: int = 0                   # 0: checkpoint at epoch ends only
    tensorboard: bool = False
    threads: int = 0                            # torch CPU threads per process (0: torch's default)
    collapse_patience: int = 50                 # steps at collapse before the one-time warning
    # held-out probe: frozen teacher-backbone mAP on a Market-format folder, BN rule applied (docs)
    probe_root: Optional[str] = None
    probe_every: int = 0                        # steps between probes (0: only at the end when probe_root is set)
    probe_size: Optional[List[int]] = None      # (H, W) of probe images; None: augment.global_size
    probe_bn_images: int = 512

    def __post_init__(self) -> None:
        # ranges the types cannot say: `epochs: -1` would "finish" at once and name a checkpoint never written
        check_ranges(self, minimum=dict(epochs=1, batch_size_per_gpu=1, out_dim=1, hidden_dim=1, bottleneck_dim=1,
                                        head_layers=1, num_workers=0, max_steps_per_epoch=0, warmup_epochs=0,
                                        warmup_teacher_temp_epochs=0, sinkhorn_iterations=1, clip_grad=0,
                                        freeze_last_layer=0, save_every_steps=0, threads=0, collapse_patience=1,
                                        probe_every=0, probe_bn_images=1, gradual_epochs=1, gradual_instances=1,
                                        min_lr=0, weight_decay=0, weight_decay_end=0, probe_size=1),
                     positive=("lr", "teacher_temp", "warmup_teacher_temp", "student_temp"),
                     fraction=("momentum_teacher", "center_momentum"))
        if len(self.gradual_epochs) != len(self.gradual_instances) or not self.gradual_epochs:
            raise ConfigError(f"gradual_epochs {list(self.gradual_epochs)} and gradual_instances "
                              f"{list(self.gradual_instances)} must be non-empty lists of the same length")
        if list(self.gradual_epochs) != sorted(set(self.gradual_epochs)):
            raise ConfigError(f"gradual_epochs must increase, got {list(self.gradual_epochs)}")
        try:
            check_device_name(self.device)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    def to_dict(self) -> Dict[str, Any]:
        """Plain data (for checkpoints and config.yaml)."""
        return config_to_dict(self)


def config_from_dict(data: Optional[Dict[str, Any]], source: str = "config") -> PretrainConfig:
    """A PretrainConfig from plain data; unknown keys and mistyped values fail in one line."""
    return _from_dict(PretrainConfig, data, source)


def zoo_config(name: str) -> PretrainConfig:
    """The release recipe for zoo model `name` on GPUs: its ZooSpec's batch size and local crops."""
    from reidzoo.models.registry import get_spec
    batch, local_crops = get_spec(name).pretrain_sizing()
    # 8 loader workers and a checkpoint every 1000 steps: a long multi-GPU run, unlike the CPU defaults
    return PretrainConfig(model=name, output_dir=f"runs/pretrain/{name}", batch_size_per_gpu=batch,
                          augment=MultiCropConfig(local_crops=local_crops), num_workers=8, save_every_steps=1000)


def load_config(path: Optional[str] = None, overrides: Sequence[str] = (),
                model: Optional[str] = None) -> PretrainConfig:
    """The defaults (or `zoo_config(model)`), then the YAML at `path`, then `key=value` overrides."""
    return _load(PretrainConfig, path, overrides, base=zoo_config(model) if model else None)
