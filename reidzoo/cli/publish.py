"""Create or update the zoo's Hugging Face Hub repos from hub folders.

Each DIR is a hub folder (config.json + model.safetensors + README.md, e.g. from `reidzoo convert`).
Its repo is ORG/<name>; after the upload the revision tag that `reidzoo.load` reads (default v1.0,
env REIDZOO_HUB_REVISION) is moved to the new commit. Authenticate first with
`hf auth login` or HF_TOKEN.

Examples:
  reidzoo publish hub/* --org cion-reidzoo --dry-run
  reidzoo publish hub/convnext_tiny --org my-org
"""
from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `reidzoo publish`."""
    p.add_argument("dirs", nargs="+", metavar="DIR", help="hub folders to publish")
    p.add_argument("--org", required=True, help="Hub organisation or user")
    p.add_argument("--revision-tag", default=None, help="tag to create/move (default: v1.0 or REIDZOO_HUB_REVISION)")
    p.add_argument("--private", action="store_true", help="create new repos as private")
    p.add_argument("--dry-run", action="store_true", help="show what would be uploaded, upload nothing")


def run(a: argparse.Namespace) -> int:
    """Publish every folder that checks out; exit status 1 if any was refused."""
    from reidzoo.publish import plan_upload, publish_folder
    failed = 0
    for d in a.dirs:
        try:
            plan = plan_upload(d, a.org)
        except (ValueError, FileNotFoundError) as exc:
            print(f"error: {d}: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{plan['repo_id']}: " + ", ".join(f"{f} ({s / 1e6:.1f} MB)" for f, s in plan["files"]))
        if not a.dry_run:
            print(f"  uploaded -> {publish_folder(d, a.org, tag=a.revision_tag, private=a.private)}")
    if a.dry_run:
        print("dry run: nothing uploaded")
    return 1 if failed else 0
