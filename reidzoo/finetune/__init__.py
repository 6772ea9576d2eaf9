"""Supervised fine-tuning of zoo backbones: BNNeck, ID + batch-hard triplet, P x K sampling; the release's recipes."""
from .config import FinetuneConfig
from .recipes import RecipeError, release_pairs, release_recipe
from .train import RunDirError, evaluate_backbone, export_finetuned, finetune

__all__ = ["FinetuneConfig", "finetune", "export_finetuned", "evaluate_backbone", "RunDirError",
           "release_recipe", "release_pairs", "RecipeError"]
