"""Create or update the zoo's Hugging Face Hub repos from hub folders.

Each DIR is a hub folder (config.json + model.safetensors + README.md, e.g. from `reidzoo convert`).
Its repo is ORG/<name>; after the upload the revision tag that `reidzoo.load` reads (default v1.0,
env REIDZOO_HUB_REVISION) is moved to the new commit. Authenticate first with
`hf auth login` or HF_TOKEN.

Every folder is checked first; a folder that fails (a check or its upload) is reported and the
others go on. At the end every failure is listed again and the exit status is 1 when any failed.

Examples:
  reidzoo publish hub/* --org cion-reidzoo --dry-run
  reidzoo publish hub/convnext_tiny --org my-org
"""
from __future__ import annotations

import argparse
import os
import sys

from .dispatch import error_message, exit_status


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `reidzoo publish`."""
    p.add_argument("dirs", nargs="+", metavar="DIR", help="hub folders to publish")
    p.add_argument("--org", required=True, help="Hub organisation or user")
    p.add_argument("--revision-tag", default=None, help="tag to create/move (default: v1.0 or REIDZOO_HUB_REVISION)")
    p.add_argument("--private", action="store_true", help="create new repos as private")
    p.add_argument("--dry-run", action="store_true", help="show what would be uploaded, upload nothing")


def run(a: argparse.Namespace) -> int:
    """Publish every folder that checks out; the others are reported, and the exit status is 1 if any failed."""
    from reidzoo.publish import plan_upload, publish_folder
    failures = []

    def failed(folder: str, exc: Exception) -> None:
        if os.environ.get("REIDZOO_DEBUG"):
            raise exc
        what = error_message(exc) if exit_status(exc) is not None else f"{type(exc).__name__}: {exc}"
        failures.append(f"{folder}: {what}")
        print(f"error: {failures[-1]}", file=sys.stderr)

    plans = []
    for d in a.dirs:  # check every folder before uploading any
        try:
            plans.append((d, plan_upload(d, a.org)))
        except Exception as exc:  # noqa: BLE001 - reported per folder; the batch goes on
            failed(d, exc)
    for d, plan in plans:
        print(f"{plan['repo_id']}: " + ", ".join(f"{f} ({s / 1e6:.1f} MB)" for f, s in plan["files"]))
        if a.dry_run:
            continue
        try:
            print(f"  uploaded -> {publish_folder(d, a.org, tag=a.revision_tag, private=a.private)}")
        except Exception as exc:  # noqa: BLE001 - the Hub client raises many types; the other folders go on
            failed(d, exc)
    if a.dry_run:
        print("dry run: nothing uploaded")
    if failures:
        print(f"error: {len(failures)} of {len(a.dirs)} folder(s) not published: " + "; ".join(failures),
              file=sys.stderr)
        return 1
    return 0
