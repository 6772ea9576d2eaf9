"""Publishing hub folders to the Hugging Face Hub (create repo, upload folder, move the pinned tag)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Optional

from .cards import RELEASE, card_claims_paper_results, card_provenance
from .hub import CARD_NAME, HUB_FILES, hub_revision, read_hub_folder, repo_id_for


def check_card(folder: Path, cfg: Dict[str, Any]) -> None:
    """Refuse a folder whose model card does not describe what config.json says the weights are."""
    recorded = ((cfg.get("reidzoo") or {}).get("provenance") or {}).get("kind")
    if recorded is None:
        raise ValueError("config.json records no provenance (reidzoo.provenance); write the folder again with "
                         "`reidzoo convert`, `cion pretrain --export` or `reidzoo export`")
    card = (folder / CARD_NAME).read_text()
    described = card_provenance(card)
    if described != recorded:
        raise ValueError(f"{CARD_NAME} describes {described or 'an unrecorded provenance'} but config.json records "
                         f"{recorded}; write the folder again so that its card matches its weights")
    if recorded != RELEASE and card_claims_paper_results(card):
        raise ValueError(f"{CARD_NAME} claims the CION paper's results for {recorded} weights; "
                         f"only a converted ReIDZoo release may carry them")


def plan_upload(folder: os.PathLike, org: str) -> Dict[str, Any]:
    """What publishing a hub folder would do: repo id and files with sizes (validates folder and card)."""
    folder = Path(folder)
    cfg, _ = read_hub_folder(folder)
    name = (cfg.get("reidzoo") or {}).get("name")
    if not name:
        raise ValueError("config.json has no reidzoo.name; write hub folders with `reidzoo convert`")
    if not (folder / CARD_NAME).is_file():
        raise ValueError(f"missing {CARD_NAME} model card; write the folder again with `reidzoo convert`")
    check_card(folder, cfg)
    files = [(f, (folder / f).stat().st_size) for f in HUB_FILES]
    return {"repo_id": repo_id_for(name, org), "name": name, "files": files}


def publish_folder(folder: os.PathLike, org: str, tag: Optional[str] = None, private: bool = False,
                   token: Optional[str] = None) -> str:
    """Create/update ORG/<name> from a hub folder with upload_folder and (re)tag the commit."""
    from huggingface_hub import HfApi

    plan = plan_upload(folder, org)
    api = HfApi(token=token)
    api.create_repo(plan["repo_id"], repo_type="model", private=private, exist_ok=True)
    info = api.upload_folder(repo_id=plan["repo_id"], folder_path=str(folder),
                             allow_patterns=list(HUB_FILES),
                             commit_message=f"Upload {plan['name']} (ReIDZoo)")
    tag = tag or hub_revision()
    if tag in {t.name for t in api.list_repo_refs(plan["repo_id"]).tags}:
        api.delete_tag(plan["repo_id"], tag=tag)  # move the pinned tag to the new commit
    api.create_tag(plan["repo_id"], tag=tag, revision=info.oid)
    return info.commit_url
