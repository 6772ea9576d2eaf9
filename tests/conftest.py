"""Test setup: the Hub stays offline. Release-format checkpoints come from tests/release_checkpoints.py."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
