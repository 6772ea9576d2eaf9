"""Pre-training configuration: one dataclass, read from YAML plus `key=value` overrides."""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import yaml


@dataclass
class PretrainConfig:
    """Every knob of a CION pre-training run; defaults are the public release's (docs/design.md)."""

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
    num_workers: int = 4
    global_size: List[int] = field(default_factory=lambda: [256, 128])
    local_size: List[int] = field(default_factory=lambda: [128, 64])
    local_crops: int = 8
    global_scale: List[float] = field(default_factory=lambda: [0.8, 1.0])
    local_scale: List[float] = field(default_factory=lambda: [0.05, 0.8])
    color_jitter_p: float = 0.8                 # DINO's photometric augmentation (probabilities per view)
    grayscale_p: float = 0.2
    solarize_p: float = 0.2                     # second global view only
    blur_sigma: List[float] = field(default_factory=lambda: [0.1, 2.0])  # pixels: scale it down with small crops
    # batches: images per GPU (P x K); K grows with the epochs
    batch_size_per_gpu: int = 120
    gradual_epochs: List[int] = field(default_factory=lambda: [40, 60, 80, 100])
    gradual_instances: List[int] = field(default_factory=lambda: [2, 4, 6, 8])
    max_steps_per_epoch: int = 0                # 0: the whole epoch; >0 caps it (smoke runs)
    # optimisation
    epochs: int = 100
    optimizer: str = "adamw"
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
    centering: str = "ema"                      # ema (the paper's, default) | sinkhorn (DINOv2/SwAV; small batches)
    sinkhorn_iterations: int = 3
    clip_grad: float = 3.0
    freeze_last_layer: int = 1
    precision: str = "auto"                     # auto | fp32 | bf16 | fp16 (auto: fp32 on CPU, bf16/fp16 on GPU)
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
    probe_size: Optional[List[int]] = None      # (H, W) of probe images; None: global_size
    probe_bn_images: int = 512

    def to_dict(self) -> Dict[str, Any]:
        """Plain data (for checkpoints and config.yaml)."""
        return dataclasses.asdict(self)


def _coerce(name: str, value: Any, default: Any) -> Any:
    if isinstance(value, str) and not isinstance(default, str):
        value = yaml.safe_load(value)  # `epochs=3` / `gradual_instances=[2,4]` from the command line
    return value


def config_from_dict(data: Dict[str, Any], source: str = "config") -> PretrainConfig:
    """A PretrainConfig from plain data; unknown keys fail with the closest known names."""
    known = {f.name: f for f in dataclasses.fields(PretrainConfig)}
    cfg = PretrainConfig()
    for key, value in (data or {}).items():
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ValueError(f"{source}: unknown key {key!r}{hint}")
        setattr(cfg, key, _coerce(key, value, getattr(cfg, key)))
    return cfg


def load_config(path: Optional[str] = None, overrides: Sequence[str] = ()) -> PretrainConfig:
    """Read a YAML config (or the defaults) and apply `key=value` overrides."""
    data: Dict[str, Any] = {}
    if path:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"config {p} does not exist; see configs/pretrain/ for one per zoo model")
        data = yaml.safe_load(p.read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{p} must hold a mapping of settings")
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like key=value (e.g. epochs=3)")
        k, v = item.split("=", 1)
        data[k.strip()] = v
    return config_from_dict(data, str(path or "overrides"))
