"""Shared test fixtures: where the project's shared/ data lies, tiny helpers."""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def shared_dir() -> Path:
    """The project's shared/ folder: env REIDZOO_SHARED, else ../shared beside the checkout."""
    env = os.environ.get("REIDZOO_SHARED")
    return Path(env) if env else ROOT.parent / "shared"


RELEASE_FIXTURES = shared_dir() / "fixtures" / "reidzoo_release"


@pytest.fixture(scope="session")
def release_fixtures() -> Path:
    if not (RELEASE_FIXTURES / "make_checkpoint.py").exists():
        pytest.fail(f"release fixtures not found at {RELEASE_FIXTURES} (set REIDZOO_SHARED)")
    return RELEASE_FIXTURES


@pytest.fixture(scope="session")
def make_checkpoint(release_fixtures):
    sys.path.insert(0, str(release_fixtures))
    import make_checkpoint as mc  # the fixture's own generator
    return mc
