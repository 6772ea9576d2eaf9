"""Model cards for hub folders: what a card says follows from where the weights come from (provenance).

Only the conversion of an original ReIDZoo release carries the CION paper's results; a pre-training
run, a fine-tuning run or a random initialisation is described as what it is. Cards are built with
huggingface_hub's ModelCard and record their provenance kind in the metadata (`reidzoo_provenance`),
so publishing can check a card against the folder's config.json.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from .models.registry import get_spec, measured_table

PAPER_URL = "https://arxiv.org/abs/2409.18569"
PAPER_NAME = "CION (Zuo et al., NeurIPS 2024), as reported in the paper"
CITATION = """@inproceedings{zuo2024cion,
  title     = {Cross-video Identity Correlating for Person Re-identification Pre-training},
  author    = {Zuo, Jialong and Nie, Ying and Zhou, Hanyu and Zhang, Huaxin and Wang, Haoyu and
               Guo, Tianyu and Sang, Nong and Gao, Changxin},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS)},
  year      = {2024}
}"""
PROVENANCE_KEY = "reidzoo_provenance"   # card metadata field naming the provenance kind

RELEASE, PRETRAIN, FINETUNE, RANDOM_INIT = "release", "cion-pretrain", "finetune", "random-init"
PROVENANCE_KINDS = (RELEASE, PRETRAIN, FINETUNE, RANDOM_INIT)

_DATASETS = {"market1501": "Market-1501", "msmt17": "MSMT17"}
# The pre-training knobs a card shows; config.json keeps the whole run config.
_PRETRAIN_SHOWN = ("annotations", "image_root", "epochs", "max_steps_per_epoch", "batch_size_per_gpu",
                   "gradual_epochs", "gradual_instances", "global_size", "local_size", "local_crops", "lr",
                   "out_dim", "seed", "init_weights")


@dataclass(frozen=True)
class Provenance:
    """Where a hub folder's weights come from; stored in config.json and rendered into its card."""

    kind: str
    details: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in PROVENANCE_KINDS:
            raise ValueError(f"unknown provenance kind {self.kind!r}; one of {', '.join(PROVENANCE_KINDS)}")

    @classmethod
    def release(cls, source: Optional[str] = None) -> "Provenance":
        """Converted from an original ReIDZoo release checkpoint (file name `source`)."""
        return cls(RELEASE, {"source": source} if source else {})

    @classmethod
    def pretrain(cls, config: Dict[str, Any], epochs_done: int, iterations: int) -> "Provenance":
        """The teacher of a `cion.pretrain` run with this config, after `epochs_done` epochs."""
        return cls(PRETRAIN, {"epochs_done": int(epochs_done), "iterations": int(iterations), "config": config})

    @classmethod
    def finetune(cls, config: Dict[str, Any], epochs_done: int,
                 metrics: Optional[Dict[str, float]] = None) -> "Provenance":
        """A `reidzoo.finetune` run with this config; `metrics` are its own evaluation at that epoch."""
        d: Dict[str, Any] = {"epochs_done": int(epochs_done), "config": config}
        if metrics:
            d["metrics"] = {k: float(v) for k, v in metrics.items()}
        return cls(FINETUNE, d)

    @classmethod
    def random_init(cls, seed: Optional[int] = None) -> "Provenance":
        """Untrained weights from the model's own initialiser (torch seed `seed`)."""
        return cls(RANDOM_INIT, {"seed": seed})

    def to_json(self) -> Dict[str, Any]:
        """The `provenance` block of config.json."""
        return {"kind": self.kind, **self.details}

    @classmethod
    def from_json(cls, block: Dict[str, Any]) -> "Provenance":
        """Inverse of `to_json`."""
        block = dict(block)
        return cls(block.pop("kind"), block)


def card_provenance(card_text: str) -> Optional[str]:
    """The provenance kind a card records in its metadata (None when it records none)."""
    from huggingface_hub import ModelCard
    return ModelCard(card_text).data.to_dict().get(PROVENANCE_KEY)


def card_claims_paper_results(card_text: str) -> bool:
    """True when a card carries the CION paper's results (metadata or body)."""
    from huggingface_hub import ModelCard
    card = ModelCard(card_text)
    return bool(card.data.eval_results) or PAPER_URL in card.text


def _paper_results(name: str) -> list:
    from huggingface_hub import EvalResult
    row = _paper(name)
    return [EvalResult(task_type="image-feature-extraction", task_name="Person re-identification (fine-tuned)",
                       dataset_type=key, dataset_name=pretty, metric_type=label.lower(), metric_name=label,
                       metric_value=float(row[f"{key}_{metric}"]), verified=False,
                       source_name=PAPER_NAME, source_url=PAPER_URL)
            for key, pretty in _DATASETS.items() for metric, label in (("map", "mAP"), ("rank1", "Rank-1"))]


def _usage(name: str, repo_id: str, release: bool) -> str:
    spec = get_spec(name)
    # Only the release is what `reidzoo.load(name)` fetches; other folders are loaded by path.
    source = f'"{name}")                 # from {repo_id}' if release else '"path/to/this/folder")'

    measured = measured_table().get(name, {})
    paper = _paper(name)
    mparams = f"{measured['params_m']:.2f} M" if "params_m" in measured else "see `reidzoo zoo measure`"
    mflops = f"{measured['flops_g']:.2f} G" if "flops_g" in measured else "see `reidzoo zoo measure`"
    return f"""## Usage

```python
import reidzoo
model = reidzoo.load({source}
feats = reidzoo.extract_features(model, ["person1.jpg", "person2.jpg"], normalize=True)
similarity = feats @ feats.T
```

With plain timm (after `import reidzoo`, which registers the architectures timm lacks):

```python
import reidzoo, timm
model = timm.create_model("hf-hub:{repo_id}", pretrained=True).eval()
```

Preprocessing: resize to 256×128 (bicubic), scale to [0, 1], normalise with ImageNet
mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).

## Architecture

| | |
|---|---|
| family | {spec.family} |
| timm architecture | `{spec.arch}` {dict(spec.kwargs) or ''} |
| embedding dimension | {spec.embed_dim} |
| parameters (backbone, measured) | {mparams} (paper: {paper['backbone_params_m']:.2f} M without classifier, {paper['params_m']:.2f} M as tabulated) |
| FLOPs at 256×128 (measured) | {mflops} (paper: {paper['flops_g']:.2f} G) |
"""


def _release_body(name: str, details: Dict[str, Any]) -> str:
    paper = _paper(name)
    source = f" (converted from `{details['source']}`)" if details.get("source") else ""
    return f"""# {name} — ReIDZoo release (CION pre-trained)

The {get_spec(name).family} backbone that the CION authors released in **ReIDZoo**{source}, pre-trained
with CION (identity-guided self-distillation) on CION-AL, person images mined from internet videos
and correlated across videos. It maps a 256×128 (height×width) person crop to a
{get_spec(name).embed_dim}-dimensional embedding; compare embeddings with cosine similarity.

## Results reported by the CION paper

Fine-tuned on each dataset; numbers **reported by the [CION paper]({PAPER_URL})**, not re-measured here.

| dataset | mAP | Rank-1 |
|---|---|---|
| Market-1501 | {paper['market1501_map']:.1f} | {paper['market1501_rank1']:.1f} |
| MSMT17 | {paper['msmt17_map']:.1f} | {paper['msmt17_rank1']:.1f} |

## Training

Identity-guided self-distillation (DINO-style student/teacher with an EMA teacher) on batches of
P identities × K images; 2 global 256×128 and 8 local 128×64 crops; 100 epochs. This folder holds
the teacher backbone.
"""


def _paper(name: str) -> Dict[str, float]:
    spec = get_spec(name)
    if spec.paper is None:
        raise ValueError(f"{name} has no paper numbers in its ZooSpec, so it has no release card")
    return spec.paper.row()


def _table(rows: Dict[str, Any]) -> str:
    return "| | |\n|---|---|\n" + "\n".join(f"| {k} | `{v}` |" for k, v in rows.items()) + "\n"


def _pretrain_body(name: str, details: Dict[str, Any]) -> str:
    cfg = details.get("config") or {}
    flat = {**cfg, **(cfg.get("augment") or {})}  # sizes and crop counts live in the augment section
    shown = {k: flat[k] for k in _PRETRAIN_SHOWN if k in flat}
    return f"""# {name} — CION pre-training run

The teacher backbone of a CION pre-training run made with this repository (`cion.pretrain`,
identity-guided self-distillation).

- data: the identity-labelled set `{cfg.get('annotations', '?')}` (images under `{cfg.get('image_root', '?')}`)
- length: {details.get('epochs_done', '?')} of {cfg.get('epochs', '?')} epochs, {details.get('iterations', '?')} iterations

It is **not** the ReIDZoo release: the CION paper's results (100 epochs on CION-AL) do not describe
these weights, and this card reports none. Evaluate it yourself (`reidzoo finetune`, `reidzoo evaluate`).

## Run configuration

{_table(shown)}
The whole configuration is in `config.json` (`reidzoo.provenance.config`).
"""


def _finetune_body(name: str, details: Dict[str, Any]) -> str:
    cfg = details.get("config") or {}
    start = cfg.get("init") or ("the ReIDZoo release weights" if cfg.get("pretrained") else "a random initialisation")
    metrics = details.get("metrics") or {}
    measured = ""
    if metrics:
        shown = ", ".join(f"{k} {100 * v:.2f}" for k, v in metrics.items())
        measured = (f"\nThe run's own evaluation after epoch {details.get('epochs_done', '?')} on the test split of "
                    f"`{cfg.get('dataset', '?')}`: {shown} (%).\n")
    return f"""# {name} — fine-tuned on {cfg.get('dataset', '?')}

A backbone fine-tuned with this repository (`reidzoo.finetune`, identity + triplet loss).

- data: `{cfg.get('dataset', '?')}`
- length: {details.get('epochs_done', '?')} of {cfg.get('epochs', '?')} epochs, seed {cfg.get('seed', '?')}
- started from: {start}

It is not the ReIDZoo release, and the CION paper's results do not describe it.
{measured}
The whole configuration is in `config.json` (`reidzoo.provenance.config`).
"""


def _random_body(name: str, details: Dict[str, Any]) -> str:
    seed = details.get("seed")
    return f"""# {name} — random initialisation

Untrained {get_spec(name).family} weights from the architecture's own initialiser
(torch seed {seed if seed is not None else 'not recorded'}): a baseline for comparisons, not a
re-identification model. No results apply to it.
"""


_BODIES = {RELEASE: _release_body, PRETRAIN: _pretrain_body, FINETUNE: _finetune_body, RANDOM_INIT: _random_body}


def card_text(name: str, provenance: Provenance, repo_id: str) -> str:
    """The model card (YAML metadata + Markdown) of a hub folder of `name` with this provenance."""
    from huggingface_hub import ModelCard, ModelCardData  # only when a card is written: keeps imports light
    spec = get_spec(name)
    release = provenance.kind == RELEASE
    data = ModelCardData(
        license="apache-2.0", library_name="timm", model_name=name, pipeline_tag="image-feature-extraction",
        tags=["person-re-identification", "reid", "reidzoo", "image-feature-extraction", "timm", spec.family.lower()]
        + (["cion"] if provenance.kind in (RELEASE, PRETRAIN) else []),
        datasets=["LUPerson-NL", "CION-AL"] if release else None,
        eval_results=_paper_results(name) if release else None,
        **{PROVENANCE_KEY: provenance.kind},
    )
    body = _BODIES[provenance.kind](name, provenance.details) + "\n" + _usage(name, repo_id, release)
    if provenance.kind in (RELEASE, PRETRAIN):
        body += f"\n## Citation\n\n```bibtex\n{CITATION}\n```\n"
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}"))
