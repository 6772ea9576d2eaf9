"""Every zoo model reproduces the original implementation's output from a release checkpoint."""
import numpy as np
import pytest
import torch

import reidzoo
from reidzoo.models.release import load_release_into, release_backbone_state_dict

NAMES = reidzoo.model_names()


def _check(model, fixtures, name):
    x = torch.from_numpy(np.load(fixtures / "input.npy"))
    expected = np.load(fixtures / f"{name}.public.expected.npy")
    with torch.no_grad():
        y = model.eval()(x).numpy()
    assert y.shape == expected.shape
    err = np.abs(y - expected).max()
    tol = 2e-5 * np.abs(expected).max()
    assert err <= tol, f"{name}: max abs diff {err:.3g} > {tol:.3g}"


@pytest.mark.parametrize("name", NAMES)
def test_release_fixture_equivalence(name, release_fixtures, make_checkpoint):
    torch.set_num_threads(2)
    manifest = make_checkpoint.load_manifest(release_fixtures / f"{name}.manifest.json")
    teacher = make_checkpoint.build_teacher_state_dict(manifest, "public")
    backbone, _ = release_backbone_state_dict({"teacher": teacher}, name)
    model = reidzoo.create_model(name)
    load_release_into(model, reidzoo.get_spec(name), backbone, name)
    _check(model, release_fixtures, name)


@pytest.mark.parametrize("name,extras,ddp_student", [
    ("resnet18_ibn", True, True), ("convnext_tiny", True, True), ("ghostnet_0_5", False, False),
])
def test_release_file_roundtrip(name, extras, ddp_student, release_fixtures, make_checkpoint, tmp_path):
    manifest = make_checkpoint.load_manifest(release_fixtures / f"{name}.manifest.json")
    path = tmp_path / f"{name}.pth"
    make_checkpoint.write_release_checkpoint(manifest, "public", path, with_extras=extras,
                                             ddp_student=ddp_student)
    model = reidzoo.load(name, weights=path)
    _check(model, release_fixtures, name)
    if extras:  # args.arch names the model, so the file alone is enough
        _check(reidzoo.load(path), release_fixtures, name)
