"""The `reidzoo` and `cion` commands: installed entry points, help that teaches, one-line errors."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reidzoo.cli import COMMANDS as REIDZOO_COMMANDS
from reidzoo.cli import main as reidzoo_main


def installed(command: str) -> str:
    """The console script pip wrote beside this interpreter."""
    path = shutil.which(command, path=str(Path(sys.executable).parent))
    assert path, f"no `{command}` script beside {sys.executable}: install the package (pip install -e .)"
    return path


@pytest.mark.parametrize("argv, expect", [
    (["reidzoo", "--help"], ["evaluate", "extract", "finetune", "zoo", "convert", "publish", "export",
                             "reidzoo evaluate --features feats.npz"]),
])
def test_installed_entry_points(argv, expect, tmp_path):
    # from another folder, so nothing is found through the working directory
    r = subprocess.run([installed(argv[0])] + argv[1:], cwd=tmp_path, capture_output=True, text=True,
                       env=dict(os.environ, HF_HUB_OFFLINE="1"), timeout=120)
    assert r.returncode == 0, r.stderr
    for word in expect:
        assert word in r.stdout


@pytest.mark.parametrize("name", [c.name for c in REIDZOO_COMMANDS])
def test_every_subcommand_help_shows_an_example(name, capsys):
    with pytest.raises(SystemExit) as e:
        reidzoo_main([name, "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and f"reidzoo {name}" in out and "Example" in out


def test_unknown_command_and_missing_arguments(capsys):
    with pytest.raises(SystemExit) as e:
        reidzoo_main(["evaluat"])
    assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        reidzoo_main(["evaluate"])
    assert e.value.code == 2 and "one of the arguments --model --features is required" in capsys.readouterr().err
