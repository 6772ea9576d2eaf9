"""Loading, hub folders, the offline Hub cache, conversion, publishing plans and bad inputs."""
import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import timm
import torch

import reidzoo
from reidzoo.cards import Provenance, card_provenance
from reidzoo.cli import main as cli
from reidzoo.hub import HubError, HubUnreachable, WEIGHTS_NAME, repo_id_for
from reidzoo.models.release import CheckpointError
from release_checkpoints import expected_output, fixture_input, write_release

X = torch.randn(2, 3, 256, 128, generator=torch.Generator().manual_seed(1))


def _embed(model):
    with torch.no_grad():
        return model.eval()(X).numpy()


@pytest.fixture(scope="module")
def resnet18_folder(tmp_path_factory):
    torch.manual_seed(0)
    model = reidzoo.create_model("resnet18").eval()
    out = tmp_path_factory.mktemp("hub") / "resnet18"
    reidzoo.save_hub_folder(model, "resnet18", out, provenance=Provenance.random_init(0))
    return out, _embed(model)


def test_load_contract_random_model():
    model = reidzoo.load("ghostnet_1_0", pretrained=False)
    assert not model.training
    y = _embed(model)
    assert y.shape == (2, 1280) and y.dtype == np.float32
    assert model.pretrained_cfg["input_size"] == [3, 256, 128]
    img = np.random.default_rng(0).integers(0, 255, (300, 100, 3), dtype=np.uint8)
    assert tuple(model.transform(img).shape) == (3, 256, 128)


def test_hub_folder_roundtrip_reidzoo_and_timm(resnet18_folder):
    folder, expected = resnet18_folder
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["architecture"] == reidzoo.get_spec("resnet18").arch and cfg["pretrained_cfg"]["input_size"] == [3, 256, 128]
    np.testing.assert_allclose(_embed(reidzoo.load(folder)), expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(_embed(reidzoo.load("resnet18", weights=folder)), expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(_embed(reidzoo.load("resnet18", weights=folder / WEIGHTS_NAME)), expected,
                               rtol=0, atol=1e-6)
    plain = timm.create_model(f"local-dir:{folder}", pretrained=True)
    np.testing.assert_allclose(_embed(plain), expected, rtol=0, atol=1e-6)


def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _lay_out_hf_cache(cache: Path, repo_id: str, revision: str, folder: Path) -> Path:
    """A Hub cache exactly as huggingface_hub writes it: blobs, snapshots/<commit> symlinks, refs."""
    repo_dir = cache / ("models--" + repo_id.replace("/", "--"))
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    snap = repo_dir / "snapshots" / commit
    (repo_dir / "blobs").mkdir(parents=True)
    snap.mkdir(parents=True)
    for f in folder.iterdir():
        data = f.read_bytes()
        # LFS files (weights) are stored under their sha256, regular git files under the blob sha1.
        blob = hashlib.sha256(data).hexdigest() if f.suffix == ".safetensors" else _git_blob_sha1(data)
        (repo_dir / "blobs" / blob).write_bytes(data)
        (snap / f.name).symlink_to(Path("..", "..", "blobs", blob))
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / revision).write_text(commit)
    return snap


def test_offline_hub_cache(resnet18_folder, tmp_path, monkeypatch):
    import huggingface_hub.constants as C
    folder, expected = resnet18_folder
    monkeypatch.setenv("REIDZOO_HUB_ORG", "test-org")
    monkeypatch.setattr(C, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(C, "HF_HUB_CACHE", str(tmp_path / "hub"))
    _lay_out_hf_cache(tmp_path / "hub", "test-org/resnet18", reidzoo.hub.hub_revision(), folder)
    np.testing.assert_allclose(_embed(reidzoo.load("resnet18")), expected, rtol=0, atol=1e-6)
    # the weights are looked up before the model is built, and the message names today's command
    monkeypatch.setattr(reidzoo.loading, "create_model", lambda *a, **k: pytest.fail("model built first"))
    with pytest.raises(HubUnreachable, match=r"test-org/convnext_tiny.*Download them once online "
                                              r"\(`hf download test-org/convnext_tiny --revision v1.0`\)"):
        reidzoo.load("convnext_tiny")


def test_unknown_model_suggests_names(capsys):
    with pytest.raises(reidzoo.UnknownModelError, match="Did you mean: convnext_tiny"):
        reidzoo.load("convnxt_tiny")
    assert cli(["zoo", "info", "resnet5O"]) == 2
    assert "resnet50" in capsys.readouterr().err


def test_bad_weight_files(tmp_path, resnet18_folder):
    folder, _ = resnet18_folder
    txt = tmp_path / "notes.pth"
    txt.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        reidzoo.load("resnet18", weights=txt)
    with pytest.raises(CheckpointError, match="unsupported weights file type"):
        reidzoo.load("resnet18", weights=shutil.copy(txt, tmp_path / "w.onnx"))
    with pytest.raises(FileNotFoundError):
        reidzoo.load("resnet18", weights=tmp_path / "missing.pth")
    # Truncated: a real checkpoint cut in half.
    full = tmp_path / "full.pth"
    torch.save({"teacher": {f"module.backbone.{k}": v for k, v in reidzoo.create_model("resnet18").state_dict().items()}}, full)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(CheckpointError):
        reidzoo.load("resnet18", weights=cut)
    # Mismatched architecture: resnet18 weights for resnet50.
    with pytest.raises(CheckpointError, match="does not match resnet50"):
        reidzoo.load("resnet50", weights=folder / WEIGHTS_NAME)
    with pytest.raises(CheckpointError, match="holds 'resnet18' weights"):
        reidzoo.load("resnet50", weights=folder)
    # Missing keys.
    sd = torch.load(full, weights_only=True)["teacher"]
    sd.pop("module.backbone.layer4.1.bn2.weight")
    torch.save({"teacher": sd}, tmp_path / "missing_key.pth")
    with pytest.raises(CheckpointError, match="1 missing"):
        reidzoo.load("resnet18", weights=tmp_path / "missing_key.pth")
    # A hub folder without weights.
    broken = tmp_path / "broken"
    broken.mkdir()
    shutil.copy(folder / "config.json", broken / "config.json")
    with pytest.raises(HubError, match="missing model.safetensors"):
        reidzoo.load(broken)


def test_unsafe_pickle_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))
    path = tmp_path / "evil.pth"
    torch.save({"teacher": {}, "payload": Evil()}, path)
    with pytest.raises(CheckpointError, match=r"refused: .*\(posix.system\) that could run code") as err:
        reidzoo.load("resnet18", weights=path)
    # our own words: never torch's advice to retry with weights_only=False
    assert "weights_only" not in str(err.value) and "\n" not in str(err.value)


def test_hub_folder_written_atomically(tmp_path, resnet18_folder):
    folder, _ = resnet18_folder
    model = reidzoo.load(folder)
    with pytest.raises(FileExistsError):
        reidzoo.save_hub_folder(model, "resnet18", folder, provenance=Provenance.random_init(0))
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]

    class Unsaveable(torch.nn.Module):  # fails while writing: no half-written folder may remain
        def state_dict(self, *a, **k):
            raise RuntimeError("disk full")
    with pytest.raises(RuntimeError):
        reidzoo.save_hub_folder(Unsaveable(), "resnet18", tmp_path / "out", provenance=Provenance.random_init())
    assert list(tmp_path.iterdir()) == []


def test_convert_release_and_publish_dry_run(tmp_path, capsys):
    src = tmp_path / "convnext_tiny.pth"
    write_release("convnext_tiny", src, ddp_student=True)
    out = tmp_path / "hub" / "convnext_tiny"
    assert cli(["convert", src, "--name", "convnext_tiny", "--out", out]) == 0
    x, expected = fixture_input(), expected_output("convnext_tiny")
    tol = 2e-5 * np.abs(expected).max()
    with torch.no_grad():
        assert np.abs(reidzoo.load(out)(x).numpy() - expected).max() <= tol
        assert np.abs(timm.create_model(f"local-dir:{out}", pretrained=True).eval()(x).numpy() - expected).max() <= tol
    card = (out / "README.md").read_text()
    assert "library_name: timm" in card and "reported" in card and card_provenance(card) == "release"
    # A wrong --name is refused and nothing is written.
    capsys.readouterr()
    assert cli(["convert", src, "--name", "resnet50", "--out", tmp_path / "wrong"]) == 2
    assert "convnext_tiny" in capsys.readouterr().err and not (tmp_path / "wrong").exists()
    assert cli(["publish", out, "--org", "my-org", "--dry-run"]) == 0
    stdout = capsys.readouterr().out
    assert "my-org/convnext_tiny" in stdout and "model.safetensors" in stdout and "nothing uploaded" in stdout


def test_extract_features_inputs(tmp_path):
    model = reidzoo.load("resnet18", pretrained=False)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(5):
        p = tmp_path / f"{i}.jpg"
        cv2.imwrite(str(p), rng.integers(0, 255, (160, 64, 3), dtype=np.uint8))
        paths.append(str(p))
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 truncated")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        f, failed = reidzoo.extract_features(model, paths + [str(tmp_path / "bad.jpg")], batch_size=4,
                                             normalize=True, num_workers=0, progress=False, return_failed=True)
    assert failed == [5] and any("bad.jpg" in str(x.message) for x in w)
    assert f.shape == (6, 512) and f.dtype == np.float32 and np.isnan(f[5]).all()
    np.testing.assert_allclose(np.linalg.norm(f[:5], axis=1), 1.0, atol=1e-5)
    # Same numbers from a tensor batch built by the model's transform.
    imgs = [cv2.cvtColor(cv2.imread(p), cv2.COLOR_BGR2RGB) for p in paths]
    f2 = reidzoo.extract_features(model, imgs, batch_size=2, normalize=True, progress=False)
    np.testing.assert_allclose(f2, f[:5], rtol=0, atol=1e-5)  # one preprocessing for paths and arrays
    t = torch.stack([model.transform(im) for im in imgs])
    f3 = reidzoo.extract_features(model, t, batch_size=3, normalize=True, progress=False)
    np.testing.assert_allclose(f3, f2, atol=1e-5)
