"""One preprocessing for every input: paths, PIL images, uint8 arrays/tensors, training, hub folders."""
import json

import cv2
import numpy as np
import pytest
import timm
import torch
from PIL import Image

import reidzoo
from reidzoo.cards import Provenance
from reidzoo.transforms import Preprocessing, build_transform, train_transform

# Person crops smaller than, equal to and larger than the 256x128 input, as JPEG and PNG.
SHAPES = [(128, 64), (256, 128), (400, 160), (97, 51)]


def _smooth_image(rng, hw) -> np.ndarray:
    """A blurred random RGB image: photo-like detail, enough for aliasing to show."""
    return cv2.GaussianBlur(rng.integers(0, 256, (*hw, 3), dtype=np.uint8), (0, 0), 1.0)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return reidzoo.load("ghostnet_0_5", pretrained=False)


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    paths = []
    for i, hw in enumerate(SHAPES):
        for ext in ("jpg", "png"):
            paths.append(str(folder / f"{i}.{ext}"))
            cv2.imwrite(paths[-1], _smooth_image(rng, hw))
    return paths


def test_paths_pil_and_arrays_give_identical_features(model, image_files):
    pil = [Image.open(p) for p in image_files]
    arrays = [np.asarray(im.convert("RGB")) for im in pil]
    kw = dict(batch_size=4, progress=False, num_workers=0)
    f_paths = reidzoo.extract_features(model, image_files, **kw)
    f_pil = reidzoo.extract_features(model, pil, **kw)
    f_arrays = reidzoo.extract_features(model, arrays, **kw)
    np.testing.assert_array_equal(f_pil, f_paths)
    np.testing.assert_array_equal(f_arrays, f_paths)
    # A uint8 batch (N,H,W,3) or (N,3,H,W) of same-sized images is preprocessed the same way.
    same = [i for i, a in enumerate(arrays) if a.shape[:2] == (400, 160)]
    batch = np.stack([arrays[i] for i in same])
    f_nhwc = reidzoo.extract_features(model, batch, **kw)
    f_nchw = reidzoo.extract_features(model, torch.from_numpy(batch).permute(0, 3, 1, 2), **kw)
    np.testing.assert_allclose(f_nhwc, f_paths[same], rtol=0, atol=1e-5)
    np.testing.assert_array_equal(f_nchw, f_nhwc)
    # The ready float tensor built by model.transform gives the same features as the paths.
    ready = torch.stack([model.transform(a) for a in arrays])
    np.testing.assert_allclose(reidzoo.extract_features(model, ready, **kw), f_paths, rtol=0, atol=1e-5)


@pytest.mark.parametrize("hw", [(128, 64), (400, 160)], ids=["upscale", "downscale"])
def test_resize_matches_pil_bicubic(hw):
    """The zoo models were trained on PIL bicubic resizes (antialiased); ours is within one grey level.

    OpenCV's cubic resize (no antialiasing) is 0.9 / 1.7 grey levels off on average, 5 / 8 at most.
    """
    img = _smooth_image(np.random.default_rng(1), hw)
    reference = np.asarray(Image.fromarray(img).resize((128, 256), Image.BICUBIC), np.float64)
    prep = Preprocessing()
    x = build_transform(prep)(img)
    pixels = (x * torch.tensor(prep.std).view(3, 1, 1) + torch.tensor(prep.mean).view(3, 1, 1)) * 255
    diff = np.abs(pixels.permute(1, 2, 0).double().numpy() - reference)
    assert x.shape == (3, 256, 128) and x.dtype == torch.float32
    assert diff.mean() < 0.5 and diff.max() <= 1 + 1e-3, (diff.mean(), diff.max())


def test_train_transform_resizes_like_eval():
    img = _smooth_image(np.random.default_rng(2), (400, 160))
    cfg = {"input_size": [3, 192, 96], "interpolation": "bicubic", "mean": [0.5] * 3, "std": [0.25] * 3}
    plain = train_transform(cfg, pad=0, flip=0, erasing=0)(img)
    torch.testing.assert_close(plain, build_transform(cfg)(img), rtol=0, atol=0)
    torch.manual_seed(0)
    assert train_transform(cfg)(img).shape == (3, 192, 96)
    with pytest.raises(ValueError, match="interpolation"):
        build_transform({"interpolation": "lanczos9"})


def test_hub_config_preprocessing_is_what_load_and_timm_use(model, tmp_path):
    folder = reidzoo.save_hub_folder(model, "ghostnet_0_5", tmp_path / "ghostnet_0_5",
                                      provenance=Provenance.random_init(0))
    saved = json.loads((folder / "config.json").read_text())["pretrained_cfg"]
    keys = ("input_size", "interpolation", "mean", "std")
    loaded = reidzoo.load(folder)
    plain = timm.create_model(f"local-dir:{folder}", pretrained=True)
    timm_data = timm.data.resolve_data_config({}, model=plain)
    for k in keys:
        assert list(np.atleast_1d(loaded.pretrained_cfg[k])) == list(np.atleast_1d(saved[k])) \
            == list(np.atleast_1d(timm_data[k])), k
    assert Preprocessing.of(loaded) == Preprocessing.of(model) == Preprocessing.from_cfg(saved)
    # plain timm's own eval transform squashes a non-person-shaped image to 256x128 as the zoo does
    # (crop_mode "center" would cut its top and bottom off)
    from PIL import Image
    img = _smooth_image(np.random.default_rng(3), (300, 140))
    timm_x = timm.data.create_transform(**timm_data)(Image.fromarray(img))
    assert saved["crop_mode"] == "squash" and timm_x.shape == (3, 256, 128)
    assert (timm_x - loaded.transform(img)).abs().max() < 0.05   # the two resizers differ by ~1 grey level
    # A folder saved with another input size is loaded with that size, as timm's local-dir: does.
    cfg = json.loads((folder / "config.json").read_text())
    cfg["pretrained_cfg"]["input_size"] = [3, 384, 192]
    (folder / "config.json").write_text(json.dumps(cfg))
    bigger = reidzoo.load(folder)
    assert bigger.pretrained_cfg["input_size"] == [3, 384, 192]
    assert bigger.transform(np.zeros((128, 64, 3), np.uint8)).shape == (3, 384, 192)


def test_set_input_size_follows_into_features_and_hub_folders(tmp_path):
    from reidzoo.loading import set_input_size
    torch.manual_seed(0)
    small = set_input_size(reidzoo.load("ghostnet_0_5", pretrained=False), (128, 64))
    img = np.zeros((300, 140, 3), np.uint8)
    assert small.transform(img).shape == (3, 128, 64)
    assert reidzoo.extract_features(small, [img, img], progress=False).shape[0] == 2
    folder = reidzoo.save_hub_folder(small, "ghostnet_0_5", tmp_path / "h", provenance=Provenance.random_init(0))
    assert reidzoo.load(folder).transform(img).shape == (3, 128, 64)
    with pytest.raises(ValueError, match="at least 16x16"):
        set_input_size(small, (8, 4))
