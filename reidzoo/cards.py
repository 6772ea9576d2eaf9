"""Hugging Face model cards for the zoo, built from the registry with huggingface_hub's ModelCard."""
from __future__ import annotations

from typing import List

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from .hub import repo_id_for
from .models.registry import get_spec, measured_table, paper_table

PAPER_URL = "https://arxiv.org/abs/2409.18569"
PAPER_NAME = "CION (Zuo et al., NeurIPS 2024), as reported in the paper"
CITATION = """@inproceedings{zuo2024cion,
  title     = {Cross-video Identity Correlating for Person Re-identification Pre-training},
  author    = {Zuo, Jialong and Nie, Ying and Zhou, Hanyu and Zhang, Huaxin and Wang, Haoyu and
               Guo, Tianyu and Sang, Nong and Gao, Changxin},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS)},
  year      = {2024}
}"""

_DATASETS = {"market1501": "Market-1501", "msmt17": "MSMT17"}


def _eval_results(name: str) -> List[EvalResult]:
    row = paper_table()[name]
    out = []
    for key, pretty in _DATASETS.items():
        for metric, label in (("map", "mAP"), ("rank1", "Rank-1")):
            out.append(EvalResult(
                task_type="image-feature-extraction", task_name="Person re-identification (fine-tuned)",
                dataset_type=key, dataset_name=pretty, metric_type=label.lower(), metric_name=label,
                metric_value=float(row[f"{key}_{metric}"]), verified=False,
                source_name=PAPER_NAME, source_url=PAPER_URL,
            ))
    return out


def model_card_text(name: str) -> str:
    """The full model card (YAML metadata + Markdown body) of one zoo model."""
    spec = get_spec(name)
    paper = paper_table()[name]
    measured = measured_table().get(name, {})
    data = ModelCardData(
        license="apache-2.0", library_name="timm", model_name=name,
        tags=["person-re-identification", "reid", "cion", "reidzoo", "image-feature-extraction", "timm",
              spec.family.lower()],
        datasets=["LUPerson-NL", "CION-AL"], pipeline_tag="image-feature-extraction",
        eval_results=_eval_results(name),
    )
    mparams = f"{measured['params_m']:.2f} M" if "params_m" in measured else "see `reidzoo zoo measure`"
    mflops = f"{measured['flops_g']:.2f} G" if "flops_g" in measured else "see `reidzoo zoo measure`"
    body = f"""
# {name} — ReIDZoo (CION pre-trained)

A {spec.family} person re-identification backbone from **ReIDZoo**, pre-trained with
**CION** (Cross-video Identity-cOrrelating pre-traiNing) on identity-correlated person images
mined from internet videos. It maps a 256×128 (height×width) person crop to a
{spec.embed_dim}-dimensional embedding; compare embeddings with cosine similarity.

## Usage

```python
import reidzoo
model = reidzoo.load("{name}")                 # eval mode, from {repo_id_for(name)}
feats = reidzoo.extract_features(model, ["person1.jpg", "person2.jpg"], normalize=True)
similarity = feats @ feats.T
```

With plain timm (after `import reidzoo`, which registers the architectures timm lacks):

```python
import reidzoo, timm
model = timm.create_model("hf-hub:{repo_id_for(name)}", pretrained=True).eval()
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

## Results reported by the CION paper

Fine-tuned on each dataset; numbers **reported by the CION paper**, not re-measured here.

| dataset | mAP | Rank-1 |
|---|---|---|
| Market-1501 | {paper['market1501_map']:.1f} | {paper['market1501_rank1']:.1f} |
| MSMT17 | {paper['msmt17_map']:.1f} | {paper['msmt17_rank1']:.1f} |

## Training

Identity-guided self-distillation (DINO-style student/teacher with an EMA teacher) on batches of
P identities × K images; 2 global 256×128 and 8 local 128×64 crops; 100 epochs. This repository
holds the teacher backbone.

## Citation

```bibtex
{CITATION}
```
"""
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n{body}")
    return str(card)
