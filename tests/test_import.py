"""`import reidzoo` is cheap (no torch, no timm) and timm still builds the zoo's own architectures."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    r = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_import_is_lazy_and_timm_knows_the_zoo_after_it():
    out = _run("import sys, reidzoo\n"
               "print('torch' in sys.modules, 'timm' in sys.modules)\n"
               "import timm\n"
               "print(type(timm.create_model('resnet18_ibn_a')).__name__, timm.is_model('vit_tiny_reid_convstem'))\n"
               "print(reidzoo.get_spec('vit_tiny').arch, callable(reidzoo.evaluation.evaluate))")
    assert out.split() == ["False", "False", "ReIDResNet", "True", "vit_tiny_reid_convstem", "True"]


def test_timm_imported_first_or_from_inside_a_family_module():
    assert _run("import timm, reidzoo; print(timm.is_model('resnet18_reid'))").split() == ["True"]
    # a family module whose own `import timm` sets the registration off while it is half run
    out = _run("import reidzoo.models.families.repvit, timm\n"
               "print(timm.is_model('repvit_m0_9_reid'), timm.is_model('resnet18_ibn_a'))")
    assert out.split() == ["True", "True"]


def test_numba_caches_in_the_user_cache_dir_not_in_the_package(tmp_path):
    (tmp_path / "kern.py").write_text("from numba import njit\n\n@njit(cache=True)\ndef twice(x):\n    return 2 * x\n")
    code = ("import sys; sys.path.insert(0, %r)\nimport reidzoo, kern\nprint(kern.twice(21))" % str(tmp_path))
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_CACHE_HOME=str(tmp_path / "cache"))
    env.pop("NUMBA_CACHE_DIR", None)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.split() == ["42"], r.stderr
    assert list((tmp_path / "cache" / "reidzoo" / "numba").rglob("*.nbi"))      # the index numba wrote
    assert not (tmp_path / "__pycache__").exists() or not list((tmp_path / "__pycache__").glob("*.nb*"))
