"""ONNX export: onnxruntime equals PyTorch for one model of every family; .onnx files work where models do."""
import json

import numpy as np
import pytest
import torch

import reidzoo
from reidzoo.cards import Provenance
from reidzoo.cli import main as cli
from reidzoo.data.synthetic import make_market_like
from reidzoo.hub import save_hub_folder
from reidzoo.loading import set_input_size
from reidzoo.onnx_export import OnnxModel, export_onnx, load_onnx, parity

pytest.importorskip("onnxruntime")

# the smallest model of each of the 10 families (all 32: benchmarks/onnx_parity.py, docs/onnx.md)
FAMILY_MODELS = ["ghostnet_0_5", "edgenext_x_small", "repvit_m0_9", "fastvit_s12", "resnet18", "resnet18_ibn",
                 "convnext_tiny", "volo_d1", "vit_tiny", "swin_tiny"]
FIXED_SIZE_FAMILIES = {"VOLO", "ViT", "Swin"}  # built for their input size: built smaller here
SMALL = (128, 64)


def _small_model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if reidzoo.get_spec(name).family in FIXED_SIZE_FAMILIES:
        return set_input_size(reidzoo.load(name, pretrained=False, img_size=SMALL), SMALL)
    return set_input_size(reidzoo.load(name, pretrained=False), SMALL)


@pytest.mark.parametrize("name", FAMILY_MODELS)
def test_onnxruntime_equals_pytorch(name, tmp_path):
    torch.set_num_threads(1)
    model = _small_model(name)
    path = export_onnx(model, tmp_path / f"{name}.onnx")
    ort_model = load_onnx(path, threads=1)
    assert parity(model, ort_model, batch=3) < 1e-4
    # the batch axis is dynamic: one image and five give the PyTorch rows too
    for n in (1, 5):
        x = torch.randn(n, 3, *SMALL)
        with torch.no_grad():
            want = model(x)
        got = ort_model(x)
        assert got.shape == want.shape and float((got - want).abs().max()) <= 1e-4 * float(want.abs().max())
    assert ort_model.pretrained_cfg["input_size"] == [3, *SMALL] and ort_model.zoo_name == name


@pytest.mark.parametrize("name", [n for n in reidzoo.model_names() if n not in FAMILY_MODELS])
def test_every_other_architecture_exports_and_matches(name, tmp_path):
    # the other 22 of the 32 (the families' smallest are above): export, then onnxruntime = PyTorch
    torch.set_num_threads(1)
    model = _small_model(name)
    assert parity(model, load_onnx(export_onnx(model, tmp_path / f"{name}.onnx"), threads=1), batch=2) < 1e-4


def test_onnx_file_in_export_load_extract_and_evaluate(tmp_path, capsys):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    hub = save_hub_folder(reidzoo.load("ghostnet_0_5", pretrained=False), "ghostnet_0_5", tmp_path / "hub",
                          provenance=Provenance.random_init(0))
    onnx_file = tmp_path / "g.onnx"
    assert cli(["export", str(hub), "--format", "onnx", "--out", str(onnx_file)]) == 0
    assert "onnxruntime vs PyTorch" in capsys.readouterr().out
    assert cli(["export", str(hub), "--format", "onnx", "--out", str(onnx_file)]) == 2  # exists: refused
    assert cli(["export", str(hub), "--format", "onnx", "--out", str(tmp_path / "g.bin")]) == 2
    model = reidzoo.load(onnx_file)
    assert isinstance(model, OnnxModel)
    with pytest.raises(ValueError, match="holds its own weights"):
        reidzoo.load(onnx_file, weights=hub)

    root = tmp_path / "market"
    make_market_like(root, n_ids_train=2, n_ids_test=4, cameras=2, images_per_id=4, seed=0, progress=False)
    paths = sorted(str(p) for p in (root / "query").glob("*.jpg"))
    a = reidzoo.extract_features(str(onnx_file), paths, num_workers=0, progress=False)
    b = reidzoo.extract_features(reidzoo.load(hub), paths, num_workers=0, progress=False)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-4 * np.abs(b).max())

    res = {}
    for tag, src in (("onnx", onnx_file), ("hub", hub)):
        out = tmp_path / f"eval_{tag}"
        assert cli(["evaluate", "--model", str(src), "--dataset", "synthetic", "--root", str(root),
                    "--out", str(out)]) == 0
        res[tag] = json.loads((out / "results.json").read_text())
    assert res["onnx"]["mAP"] == pytest.approx(res["hub"]["mAP"], abs=1e-6)
