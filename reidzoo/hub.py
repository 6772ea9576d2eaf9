"""Hub folders (config.json + model.safetensors + README.md): writing, reading, Hub download."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Optional

import torch
from safetensors.torch import load_file, save_file

from .atomic import atomic_dir
from .cards import Provenance, card_text
from .models.registry import get_spec

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
HUB_FILES = (CONFIG_NAME, WEIGHTS_NAME, CARD_NAME)

DEFAULT_ORG = "cion-reidzoo"
# Zoo weights are read at a pinned tag that `reidzoo publish` creates after an upload,
# so a later upload never silently changes what `reidzoo.load(name)` returns.
DEFAULT_REVISION = "v1.0"


class HubError(RuntimeError):
    """Weights that cannot be found or fetched."""

    exit_code = 2  # a broken hub folder or a name the Hub does not hold: the input is wrong


class HubUnreachable(HubError):
    """The Hub could not deliver the weights (offline and not cached, or an HTTP error)."""

    exit_code = 1


def hub_org() -> str:
    """The Hub organisation holding the zoo (env REIDZOO_HUB_ORG overrides)."""
    return os.environ.get("REIDZOO_HUB_ORG", DEFAULT_ORG)


def hub_revision() -> str:
    """The pinned Hub revision to read (env REIDZOO_HUB_REVISION overrides)."""
    return os.environ.get("REIDZOO_HUB_REVISION", DEFAULT_REVISION)


def repo_id_for(name: str, org: Optional[str] = None) -> str:
    """Hub repo id of a zoo model, e.g. cion-reidzoo/convnext_tiny."""
    return f"{org or hub_org()}/{name}"


def write_hub_config(model: torch.nn.Module, name: str, path: Path, provenance: Provenance) -> Dict[str, Any]:
    """Write config.json with timm's own exporter, plus a `reidzoo` block (name, family, provenance)."""
    from timm.models._hub import save_config_for_hf

    spec = get_spec(name)
    model_args = {k: (list(v) if isinstance(v, tuple) else v) for k, v in spec.kwargs.items()}
    save_config_for_hf(model, str(path), model_args=model_args)
    cfg = json.loads(path.read_text())
    cfg["reidzoo"] = {"name": name, "family": spec.family, "provenance": provenance.to_json()}
    path.write_text(json.dumps(cfg, indent=2) + "\n")
    return cfg


def save_hub_folder(model: torch.nn.Module, name: str, out_dir: os.PathLike, *, provenance: Provenance,
                    overwrite: bool = False) -> Path:
    """Write a hub folder for a zoo backbone atomically; its card describes `provenance`.

    `provenance` is required: a folder's card must say whether it holds the ReIDZoo release, one of our
    pre-training or fine-tuning runs, or random weights (only the release carries the paper's results).
    """
    with atomic_dir(out_dir, overwrite) as tmp:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_NAME), metadata={"format": "pt", "reidzoo_name": name})
        write_hub_config(model, name, tmp / CONFIG_NAME, provenance)
        (tmp / CARD_NAME).write_text(card_text(name, provenance, repo_id_for(name)))
    return Path(out_dir)


def is_hub_folder(path: os.PathLike) -> bool:
    """True for a folder holding config.json and model.safetensors."""
    p = Path(path)
    return p.is_dir() and (p / CONFIG_NAME).is_file() and (p / WEIGHTS_NAME).is_file()


def read_hub_folder(path: os.PathLike) -> tuple[Dict[str, Any], Dict[str, torch.Tensor]]:
    """The config and the state dict of a hub folder, with clear errors for broken folders."""
    p = Path(path)
    if not p.is_dir():
        raise HubError(f"{p} is not a folder")
    missing = [f for f in (CONFIG_NAME, WEIGHTS_NAME) if not (p / f).is_file()]
    if missing:
        raise HubError(f"{p} is not a hub folder: missing {', '.join(missing)} "
                       f"(write one with `reidzoo convert` or `cion pretrain --export`)")
    try:
        cfg = json.loads((p / CONFIG_NAME).read_text())
    except json.JSONDecodeError as exc:
        raise HubError(f"{p / CONFIG_NAME} is not valid JSON: {exc}") from exc
    try:
        state = load_file(str(p / WEIGHTS_NAME))
    except Exception as exc:
        raise HubError(f"{p / WEIGHTS_NAME} is not a readable safetensors file ({exc}); "
                       f"it may be truncated: download or convert it again") from exc
    return cfg, state


def download_hub_folder(name: str, org: Optional[str] = None, revision: Optional[str] = None,
                        cache_dir: Optional[os.PathLike] = None) -> Path:
    """Fetch a zoo model's hub folder (or take it from the cache; HF_HUB_OFFLINE=1 works)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    repo_id = repo_id_for(name, org)
    rev = revision or hub_revision()
    try:
        path = snapshot_download(repo_id, revision=rev, cache_dir=cache_dir,
                                 allow_patterns=list(HUB_FILES))
    except LocalEntryNotFoundError as exc:
        raise HubUnreachable(
            f"weights of {name!r} are not in the Hugging Face cache and the Hub cannot be reached "
            f"(repo {repo_id}, revision {rev}). Download them once online "
            f"(`hf download {repo_id} --revision {rev}`), or pass weights=PATH "
            f"to a hub folder or a ReIDZoo release .pth"
        ) from exc
    except HfHubHTTPError as exc:
        raise HubUnreachable(f"cannot fetch {repo_id}@{rev} from the Hub: {str(exc).splitlines()[0]}. "
                       f"Set REIDZOO_HUB_ORG if the zoo lives under another organisation, or pass weights=PATH") from exc
    return Path(path)
