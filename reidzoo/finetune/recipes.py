"""The ReIDZoo release's supervised fine-tuning recipes: one FinetuneConfig per (model, dataset), 64 in all.

The values are the public release's configs, tabulated in `release_recipes.csv` (package data);
`release_recipe` turns a row into a config of this fine-tuner. What the columns mean and which
of them act on which models: docs/finetune.md ("The release recipes").
"""
from __future__ import annotations

import csv
import io
from functools import lru_cache
from importlib import resources
from typing import Dict, List, Tuple

from .config import FinetuneConfig

RECIPE_FILE = "release_recipes.csv"
DATASETS = ("market1501", "msmt17")
# the release's spelling -> the zoo's name
RELEASE_NAMES = {"edgenext_xsmall": "edgenext_x_small"}
# TransReID's create_scheduler ("type 2") behind WARMUP_METHOD 'cosine': warm-up from 1 % of the base
# lr, decay to 0.2 % of it
WARMUP_FACTOR, MIN_LR_FACTOR = 0.01, 0.002


class RecipeError(KeyError):
    """A (model, dataset) pair without a release recipe."""

    def __str__(self) -> str:
        return str(self.args[0])


@lru_cache(maxsize=1)
def release_rows() -> Tuple[Dict[str, str], ...]:
    """The recipe table as read: one dict of column -> text per row, model names in the zoo's spelling."""
    text = resources.files(__package__).joinpath(RECIPE_FILE).read_text(encoding="utf-8")
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        row["model"] = RELEASE_NAMES.get(row["model"], row["model"])
        rows.append(row)
    return tuple(rows)


def release_pairs() -> List[Tuple[str, str]]:
    """Every (model, dataset) pair the release has a recipe for."""
    return [(r["model"], r["dataset"]) for r in release_rows()]


def _size(text: str) -> Tuple[int, int]:
    h, w = text.lower().split("x")
    return int(h), int(w)


def _triple(text: str) -> Tuple[float, float, float]:
    a, b, c = (float(v) for v in text.split())
    return a, b, c


def _flag(text: str) -> bool:
    """The release's booleans: True/False, yes/no, on/off."""
    low = text.strip().lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    raise ValueError(f"not a yes/no value: {text!r}")


def recipe_from_row(row: Dict[str, str]) -> FinetuneConfig:
    """A FinetuneConfig with one row's values (fails on a value this fine-tuner cannot run)."""
    unsupported = {k: row[k] for k, ok in (("id_loss", "softmax"), ("metric_loss", "triplet"),
                                            ("center_loss", "no"), ("neck", "bnneck"),
                                            ("warmup_method", "cosine")) if row[k] != ok}
    if row["size_train"] != row["size_test"]:
        unsupported["size_test"] = row["size_test"]
    if unsupported:
        raise ValueError(f"{row['model']} / {row['dataset']}: unsupported release settings {unsupported}")
    batch, k = int(row["ims_per_batch"]), int(row["num_instance"])
    if batch % k:
        raise ValueError(f"{row['model']} / {row['dataset']}: batch {batch} is not a multiple of K = {k}")
    epochs = int(row["max_epochs"])
    return FinetuneConfig(
        model=row["model"], dataset=row["dataset"], pretrained=True,
        epochs=epochs, p=batch // k, k=k,
        optimizer=row["optimizer"].lower(), lr=float(row["base_lr"]), momentum=float(row["momentum"]),
        nesterov=False, bias_lr_factor=float(row["bias_lr_factor"]),
        weight_decay=float(row["weight_decay"]), weight_decay_bias=float(row["weight_decay_bias"]),
        schedule="timm_cosine", warmup_epochs=int(row["warmup_epochs"]), warmup_factor=WARMUP_FACTOR,
        min_lr_factor=MIN_LR_FACTOR,
        label_smoothing=0.1 if _flag(row["label_smooth"]) else 0.0,
        triplet_margin=None if _flag(row["triplet_soft_margin"]) else 0.3, triplet_normalize=False,
        input_size=_size(row["size_train"]), pixel_mean=_triple(row["pixel_mean"]),
        pixel_std=_triple(row["pixel_std"]),
        flip=float(row["flip_prob"]), pad=int(row["padding"]), erasing=float(row["random_erasing_prob"]),
        erasing_fill="noise",
        drop_path=float(row["drop_path"]), last_stride=int(row["last_stride"]),
        stride_size=_size(row["stride_size"]) if row["stride_size"] else None,
        stem_conv=_flag(row["stem_conv"]),
        test_feature=row["neck_feat_at_test"], test_normalize=_flag(row["feat_norm_at_test"]),
        eval_every=epochs,  # the release evaluates once, after the last epoch
    )


def release_recipe(model: str, dataset: str) -> FinetuneConfig:
    """The release's fine-tuning recipe of a zoo model on market1501 or msmt17, as a FinetuneConfig."""
    model = RELEASE_NAMES.get(model, model)
    for row in release_rows():
        if row["model"] == model and row["dataset"] == dataset:
            return recipe_from_row(row)
    models = sorted({m for m, _ in release_pairs()})
    if dataset not in DATASETS:
        raise RecipeError(f"the release has recipes for {', '.join(DATASETS)}, not {dataset!r}")
    raise RecipeError(f"no release recipe for {model!r}; the release has one for each of: {', '.join(models)}")


def mgn_recipe(model: str = "resnet50_ibn", dataset: str = "market1501") -> FinetuneConfig:
    """MGN as the release trains it (the headline ResNet50-IBN results), for a ResNet / ResNet-IBN zoo model.

    fastreid's bag-of-tricks -> stronger baseline -> MGN configs as the release sets them: 384x128,
    Adam 3.5e-4, weight decay 5e-4 (biases too), 64 images = 4 identities x 16, 60 epochs, warm-up
    over 10 epochs from 1 %, cosine to 7.7e-7 after 30 epochs, the backbone frozen for the first 10
    iterations, label-smoothed cross-entropy (0.1) and a soft-margin triplet on raw embeddings.
    """
    if dataset not in DATASETS:
        raise RecipeError(f"the release has MGN recipes for {', '.join(DATASETS)}, not {dataset!r}")
    return FinetuneConfig(
        model=model, dataset=dataset, pretrained=True, method="mgn",
        epochs=60, p=4, k=16, optimizer="adam", lr=3.5e-4, weight_decay=5e-4, weight_decay_bias=5e-4,
        bias_lr_factor=1.0, classifier_lr_factor=1.0,
        schedule="cosine", warmup_epochs=10, warmup_factor=0.01, delay_epochs=30, min_lr=7.7e-7,
        freeze_iters=10, label_smoothing=0.1, triplet_margin=None, triplet_normalize=False,
        input_size=(384, 128), flip=0.5, pad=10, erasing=0.5, erasing_fill="black",
        test_feature="after", test_normalize=True, eval_every=60,
    )
