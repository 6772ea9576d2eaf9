"""Every zoo model reproduces the original implementation's output from a release checkpoint."""
import numpy as np
import pytest
import torch

import reidzoo
from reidzoo.models.release import load_release_into, release_backbone_state_dict
from release_checkpoints import expected_output, fixture_input, teacher_tensors, write_release

NAMES = reidzoo.model_names()


def _check(model, name):
    expected = expected_output(name)
    with torch.no_grad():
        y = model.eval()(fixture_input()).numpy()
    assert y.shape == expected.shape
    err = np.abs(y - expected).max()
    tol = 2e-5 * np.abs(expected).max()
    assert err <= tol, f"{name}: max abs diff {err:.3g} > {tol:.3g}"


@pytest.mark.parametrize("name", NAMES)
def test_release_fixture_equivalence(name):
    torch.set_num_threads(2)
    backbone, _ = release_backbone_state_dict({"teacher": teacher_tensors(name)}, name)
    model = reidzoo.create_model(name)
    load_release_into(model, reidzoo.get_spec(name), backbone, name)
    _check(model, name)


@pytest.mark.parametrize("name,extras,ddp_student", [
    ("resnet18_ibn", True, True), ("convnext_tiny", True, True), ("ghostnet_0_5", False, False),
])
def test_release_file_roundtrip(name, extras, ddp_student, tmp_path):
    path = tmp_path / f"{name}.pth"
    write_release(name, path, extras=extras, ddp_student=ddp_student)
    model = reidzoo.load(name, weights=path)
    _check(model, name)
    if extras:  # args.arch names the model, so the file alone is enough
        _check(reidzoo.load(path), name)
