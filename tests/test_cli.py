"""The `reidzoo` and `cion` commands: installed entry points, help that teaches, one-line errors."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cion.cli import COMMANDS as CION_COMMANDS
from cion.cli import main as cion_main
from reidzoo.cli import COMMANDS as REIDZOO_COMMANDS
from reidzoo.cli import main as reidzoo_main

MAINS = {"reidzoo": reidzoo_main, "cion": cion_main}


def installed(command: str) -> str:
    """The console script pip wrote beside this interpreter."""
    path = shutil.which(command, path=str(Path(sys.executable).parent))
    assert path, f"no `{command}` script beside {sys.executable}: install the package (pip install -e .)"
    return path


@pytest.mark.parametrize("argv, expect", [
    (["reidzoo", "--help"], ["evaluate", "extract", "finetune", "zoo", "convert", "publish", "export",
                             "reidzoo evaluate --features feats.npz"]),
    (["cion", "pretrain", "--help"], ["--config", "--resume", "--export", "torchrun --nproc_per_node 8 -m cion pretrain"]),
])
def test_installed_entry_points(argv, expect, tmp_path):
    # from another folder, so nothing is found through the working directory
    r = subprocess.run([installed(argv[0])] + argv[1:], cwd=tmp_path, capture_output=True, text=True,
                       env=dict(os.environ, HF_HUB_OFFLINE="1"), timeout=120)
    assert r.returncode == 0, r.stderr
    for word in expect:
        assert word in r.stdout


@pytest.mark.parametrize("prog, name", [("reidzoo", c.name) for c in REIDZOO_COMMANDS] +
                         [("cion", c.name) for c in CION_COMMANDS])
def test_every_subcommand_help_shows_an_example(prog, name, capsys):
    with pytest.raises(SystemExit) as e:
        MAINS[prog]([name, "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and f"{prog} {name}" in out and "Example" in out


def test_unknown_command_and_missing_arguments(capsys):
    with pytest.raises(SystemExit) as e:
        reidzoo_main(["evaluat"])
    assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        reidzoo_main(["evaluate"])
    assert e.value.code == 2 and "one of the arguments --model --features is required" in capsys.readouterr().err


def test_exports_of_missing_checkpoints_fail_in_one_line(tmp_path, capsys):
    assert reidzoo_main(["export", tmp_path / "best.pth", "--out", tmp_path / "hub"]) == 2
    assert cion_main(["pretrain", "--export", tmp_path / "checkpoint.pth", "--out", tmp_path / "hub"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") and "checkpoint.pth" in err[1] for line in err)
    assert not (tmp_path / "hub").exists()
