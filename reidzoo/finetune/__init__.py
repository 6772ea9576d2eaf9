"""Supervised fine-tuning of zoo backbones: BNNeck, ID + batch-hard triplet, P x K sampling."""
from .config import FinetuneConfig
from .train import RunDirError, evaluate_backbone, export_finetuned, finetune

__all__ = ["FinetuneConfig", "finetune", "export_finetuned", "evaluate_backbone", "RunDirError"]
