"""A fine-tuning run's checkpoint (last.pth) back as a model: the evaluated model, or its backbone as a hub folder."""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

import torch

from ..atomic import check_new_dir
from ..cards import Provenance
from ..config_loader import config_from_dict
from ..hub import save_hub_folder
from ..loading import load
from ..models.release import CheckpointError, torch_load_safely
from .config import FinetuneConfig
from .model import apply_preprocessing, architecture_overrides, build_model


@dataclass
class FinetunedRun:
    """A checkpoint's model in evaluation mode (what the run evaluated), its config and its own scores."""

    model: torch.nn.Module
    config: Dict[str, Any]
    epochs_done: int
    metrics: Dict[str, float]


def read_plain_checkpoint(path: os.PathLike) -> Optional[Dict[str, Any]]:
    """The dict of a weights-only .pth / .pt file; None for anything else (a name, a folder, a release pickle)."""
    p = Path(path)
    if not p.is_file() or p.suffix not in (".pth", ".pt"):
        return None
    try:
        ck = torch.load(p, map_location="cpu", weights_only=True)
    except Exception:  # a release .pth may hold pickled objects weights_only refuses; it is not ours then
        return None
    return ck if isinstance(ck, dict) else None


def holds_finetune_run(ck: Dict[str, Any]) -> bool:
    """True for the dict of a `reidzoo finetune` checkpoint (its config, model and epoch)."""
    return {"config", "model", "epoch"} <= set(ck)


def load_run(checkpoint: os.PathLike) -> FinetunedRun:
    """The model of a fine-tuning checkpoint, built as the run built it and put in evaluation mode."""
    ck = torch_load_safely(checkpoint, safe_globals=())  # one-line errors for missing / damaged files
    if not (isinstance(ck, dict) and holds_finetune_run(ck)):
        from .cluster_contrast import holds_contrast_run
        if isinstance(ck, dict) and holds_contrast_run(ck):
            raise CheckpointError(f"{checkpoint} is a `reidzoo cluster-contrast` checkpoint: export it with "
                                  f"--format onnx (a hub folder cannot hold its GeM pooling and neck)")
        raise CheckpointError(f"{checkpoint} is not a `reidzoo finetune` checkpoint (last.pth); a CION pre-training "
                              f"checkpoint is exported with `cion pretrain --export`")
    cfg = ck["config"]
    run_cfg = config_from_dict(FinetuneConfig, cfg, str(checkpoint))
    # the run's input size and mean/std travel with the model (and into a hub folder's config.json)
    backbone = apply_preprocessing(load(cfg["model"], pretrained=False, **architecture_overrides(run_cfg)), run_cfg)
    head = "classifiers.0.weight" if run_cfg.method == "mgn" else "classifier.weight"
    model = build_model(run_cfg, backbone, ck["model"][head].shape[0])
    model.load_state_dict(ck["model"], strict=True)
    epochs_done = int(ck["epoch"]) + 1
    # the run's own evaluation of exactly these weights, when the checkpoint holds one
    res = ck.get("metrics") or next((h for h in ck.get("history", [])[::-1] if h.get("epoch") == epochs_done
                                     and "mAP" in h), {})
    metrics = {k: res[k] for k in ("mAP", "rank1", "mINP") if k in res}
    return FinetunedRun(model.eval(), cfg, epochs_done, metrics)


def export_finetuned(checkpoint: os.PathLike, out_dir: os.PathLike, overwrite: bool = False) -> Path:
    """Write the fine-tuned backbone of a checkpoint (last.pth) as a hub folder."""
    check_new_dir(out_dir, overwrite)
    run = load_run(checkpoint)
    if run.config.get("method") == "mgn":
        raise ValueError(f"{checkpoint} is an MGN run: a hub folder holds one zoo backbone, MGN has three branches "
                         f"and eight heads; export it with `reidzoo export {checkpoint} --format onnx`")
    metrics = run.metrics
    if run.model.test_feature == "after":
        warnings.warn("the run was evaluated on features after the BN neck; the hub folder holds the backbone, "
                      "whose features are those before it, so its card records no scores (an ONNX export "
                      "keeps the neck)", UserWarning, stacklevel=2)
        metrics = {}
    return save_hub_folder(run.model.backbone, run.config["model"], out_dir, overwrite=overwrite,
                           provenance=Provenance.finetune(run.config, run.epochs_done, metrics))
