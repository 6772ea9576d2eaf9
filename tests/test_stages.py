"""cion.stages: skipping, atomicity (an interrupted stage never looks done), parameter checks, packaged presets."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cion.stages import STAGE_FILE, StageError, Stages, load_preset, preset_names, stage_record

ROOT = Path(__file__).resolve().parents[1]


def _writer(calls):
    def fn(out: Path):
        calls.append(out)
        (out / "data.txt").write_text("payload")
        return {"rows": 3}
    return fn


def test_stage_runs_once_then_skips(tmp_path):
    calls = []
    st = Stages(tmp_path, log=None)
    assert st.run("a", tmp_path / "a", _writer(calls), params={"n": 1, "size": (2, 3)}) == {"rows": 3}
    rec = stage_record(tmp_path / "a")
    assert rec["params"] == {"n": 1, "size": [2, 3]} and rec["result"] == {"rows": 3} and rec["wall_s"] >= 0
    again = Stages(tmp_path, log=None)
    assert again.run("a", tmp_path / "a", _writer(calls), params={"n": 1, "size": (2, 3)}) == {"rows": 3}
    assert len(calls) == 1 and again.times == {"a": None} and again.records["a"] == rec


def test_other_parameters_are_an_error_not_a_silent_reuse(tmp_path):
    st = Stages(tmp_path, log=None)
    st.run("a", tmp_path / "a", _writer([]), params={"n": 1, "seed": 0})
    with pytest.raises(StageError, match=r"other parameters \(differs in \['n'\]\)"):
        st.run("a", tmp_path / "a", _writer([]), params={"n": 2, "seed": 0})


def test_interrupted_stage_is_not_done_and_restarts_clean(tmp_path):
    out = tmp_path / "b"

    def dies(o: Path):
        (o / "half.txt").write_text("half")
        raise KeyboardInterrupt  # a killed run

    with pytest.raises(KeyboardInterrupt):
        Stages(tmp_path, log=None).run("b", out, dies)
    assert (out / "half.txt").exists() and not (out / STAGE_FILE).exists() and stage_record(out) is None
    calls = []
    Stages(tmp_path, log=None).run("b", out, _writer(calls))
    assert len(calls) == 1 and not (out / "half.txt").exists()  # the partial output was cleared first
    assert sorted(p.name for p in out.iterdir()) == ["data.txt", STAGE_FILE]


def test_resumable_stage_keeps_what_a_killed_run_left(tmp_path):
    out = tmp_path / "c"

    def first(o: Path):
        (o / "checkpoint").write_text("epoch 1")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        Stages(tmp_path, log=None).run("c", out, first, resume=True)
    seen = []
    Stages(tmp_path, log=None).run("c", out, lambda o: seen.append((o / "checkpoint").read_text()), resume=True)
    assert seen == ["epoch 1"] and stage_record(out) is not None


def test_stage_file_is_written_atomically(tmp_path, monkeypatch):
    # A crash before stage.json's rename leaves no (partial) stage.json: the stage is still not done.
    import reidzoo.atomic as A

    def crash(*_a, **_k):
        raise OSError("killed before the rename")
    st = Stages(tmp_path, log=None)
    monkeypatch.setattr(A.os, "replace", crash)
    with pytest.raises(OSError):
        st.run("d", tmp_path / "d", lambda o: None)
    monkeypatch.undo()
    assert stage_record(tmp_path / "d") is None and not (tmp_path / "d" / STAGE_FILE).exists()


def test_presets_build_valid_stage_configs():
    from cion.pretrain.config import config_from_dict
    from cion.stages import finetune_config, pretrain_config
    assert {"quickstart", "experiment_small", "experiment_full"} <= set(preset_names())
    for name in ("quickstart", "experiment_small", "experiment_full"):
        p = load_preset(name)
        assert {"videos", "benchmark", "mining", "denoise", "pretrain", "finetune", "evaluate"} <= set(p)
        pc = pretrain_config(p["pretrain"], model="ghostnet_1_0", output_dir="x")
        assert pc.out_dim == p["pretrain"]["out_dim"] and pc.device == "cpu"
        config_from_dict(p["pretrain"])
        fc = finetune_config(p["finetune"], model="ghostnet_1_0", seed=3)
        assert fc.epochs == p["finetune"]["epochs"] and fc.seed == 3
        # the benchmark's people never appear in the videos
        assert p["benchmark"]["identity_offset"] >= p["videos"]["identity_offset"] + p["videos"]["n_identities"]


def test_missing_preset_is_an_error_naming_the_available_ones():
    with pytest.raises(StageError, match="no preset 'nope'.*quickstart"):
        load_preset("nope")
    with pytest.raises(StageError, match="no preset 'missing.yaml'"):
        load_preset("missing.yaml")


@pytest.mark.slow
def test_presets_are_package_data_of_a_non_editable_install(tmp_path):
    """Built and installed like `pip install .` (not editable), the presets come from the installed package."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for pkg in ("cion", "reidzoo"):
        shutil.copytree(ROOT / pkg, src / pkg, ignore=ignore)
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--no-compile", "--target", str(target), str(src)], check=True, capture_output=True)
    assert (target / "cion" / "configs" / "quickstart.yaml").is_file()
    shutil.rmtree(src)  # nothing may be read from a source tree
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = ("import json, cion, cion.stages as S; from importlib import resources; "
            "print(json.dumps([cion.__file__, str(resources.files('cion')), S.load_preset('quickstart')['model'], "
            "S.preset_names('experiment_')]))")
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, check=True, capture_output=True,
                         text=True).stdout
    cion_file, files_root, model, budgets = json.loads(out.strip().splitlines()[-1])
    assert Path(cion_file).is_relative_to(target) and Path(files_root).is_relative_to(target)
    assert model == "resnet18" and budgets == ["experiment_full", "experiment_small"]


def test_evaluation_bn_rule_uses_train_images_on_a_copy(tmp_path):
    import copy

    import torch

    import reidzoo
    from reidzoo.bn import reestimate_bn
    from reidzoo.data import Market1501
    from reidzoo.data.synthetic import make_market_like
    from reidzoo.features import load_images
    from cion.stages import evaluate_init, reestimate_bn_on_train
    torch.set_num_threads(1)
    ds = Market1501(make_market_like(tmp_path / "m", n_ids_train=4, n_ids_test=4, cameras=2, images_per_id=4,
                                     seed=0, progress=False))
    torch.manual_seed(0)
    model = reidzoo.load("ghostnet_0_5", pretrained=False)
    before = copy.deepcopy(model.state_dict())
    bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    # the same statistics as the rule applied by hand to every train image (query / gallery unseen)
    train = load_images([p for p, _, _ in ds.train], model)
    ref = reestimate_bn(copy.deepcopy(model), train, batch_size=64)
    got = reestimate_bn_on_train(model, ds)
    ref_bn, got_bn = (next(m for m in x.modules() if isinstance(m, torch.nn.BatchNorm2d)) for x in (ref, got))
    torch.testing.assert_close(got_bn.running_mean, ref_bn.running_mean)
    assert not torch.allclose(got_bn.running_mean, bn.running_mean)
    as_is = evaluate_init(model, "random", ds, {"batch_size": 32, "num_workers": 0}, progress=False)
    rule = evaluate_init(model, "random", ds, {"batch_size": 32, "num_workers": 0, "bn": "train"}, progress=False)
    assert as_is["bn"] == "as_is" and rule["bn"] == "train" and rule["init"] == "random"
    assert rule["mAP"] == evaluate_init(got, "x", ds, {"batch_size": 32, "num_workers": 0}, progress=False)["mAP"]
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # the caller's model untouched
    with pytest.raises(StageError, match="bn='bogus'"):
        evaluate_init(model, "random", ds, {"bn": "bogus"}, progress=False)
