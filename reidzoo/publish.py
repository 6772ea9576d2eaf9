"""Publishing hub folders to the Hugging Face Hub (create repo, upload folder, move the pinned tag)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Optional

from .hub import HUB_FILES, hub_revision, read_hub_folder, repo_id_for


def plan_upload(folder: os.PathLike, org: str) -> Dict[str, Any]:
    """What publishing a hub folder would do: repo id and files with sizes (validates the folder)."""
    folder = Path(folder)
    cfg, _ = read_hub_folder(folder)
    name = (cfg.get("reidzoo") or {}).get("name")
    if not name:
        raise ValueError("config.json has no reidzoo.name; write hub folders with `reidzoo convert`")
    if not (folder / "README.md").is_file():
        raise ValueError("missing README.md model card (`reidzoo zoo cards` writes them)")
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
