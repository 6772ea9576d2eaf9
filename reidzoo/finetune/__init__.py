"""Supervised fine-tuning of zoo backbones: BNNeck, ID + batch-hard triplet, P x K sampling; the release's recipes."""
from .config import FinetuneConfig
from .recipes import RecipeError, mgn_recipe, release_pairs, release_recipe
from .export import export_finetuned, load_run
from .train import RunDirError, evaluate_backbone, finetune

__all__ = ["FinetuneConfig", "finetune", "export_finetuned", "load_run", "evaluate_backbone", "RunDirError",
           "release_recipe", "release_pairs", "mgn_recipe", "RecipeError"]
