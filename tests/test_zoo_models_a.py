"""Zoo families ResNet, ResNet-IBN, ConvNeXt, VOLO, ViT, Swin: build, embed, sizes, timm parity, layouts."""
import pytest
import timm
import torch
from torch import nn

import reidzoo
from reidzoo.models.ibn import IBN
from reidzoo.models.release import CheckpointError, load_release_into, release_backbone_state_dict
from release_checkpoints import teacher_tensors

FAMILIES = ("ResNet", "ResNet-IBN", "ConvNeXt", "VOLO", "ViT", "Swin")
NAMES = [n for n in reidzoo.model_names() if reidzoo.get_spec(n).family in FAMILIES]


def _batch(n: int = 2) -> torch.Tensor:
    return torch.randn(n, 3, 256, 128, generator=torch.Generator().manual_seed(1))


def test_the_twenty_models_are_registered():
    assert len(NAMES) == 20
    assert {reidzoo.get_spec(n).family for n in NAMES} == set(FAMILIES)


# One model per family is also run through plain timm numerically (cheap ones); for the others the
# plain-timm build is compared structurally on the meta device, which costs no init or forward.
NUMERIC_PARITY = {"resnet18", "resnet18_ibn", "convnext_tiny", "volo_d1", "vit_tiny", "swin_tiny"}


@pytest.mark.parametrize("name", NAMES)
def test_builds_embeds_and_matches_plain_timm(name):
    """Zoo model: (2,3,256,128) -> (2, D); size within 1 % of the CSV; plain timm builds the same model."""
    torch.set_num_threads(2)
    spec = reidzoo.get_spec(name)
    model = reidzoo.create_model(name).eval()
    params_m = sum(p.numel() for p in model.parameters()) / 1e6
    expected_m = reidzoo.get_spec(name).paper.row()["backbone_params_m"]
    assert abs(params_m - expected_m) <= 0.01 * expected_m, f"{name}: {params_m:.2f} M vs paper {expected_m} M"

    x = _batch()
    with torch.inference_mode():
        y = model(x)
    assert y.shape == (2, spec.embed_dim)
    assert torch.isfinite(y).all()

    # The hub-folder round trip rebuilds the model from (arch, kwargs) with plain timm.
    if name in NUMERIC_PARITY:
        plain = timm.create_model(spec.arch, num_classes=0, **spec.kwargs).eval()
        plain.load_state_dict(model.state_dict(), strict=True)
        with torch.inference_mode():
            assert torch.equal(plain(x), y)
    else:
        plain = timm.create_model(spec.arch, num_classes=0, device="meta", **spec.kwargs)
        assert repr(plain) == repr(model)
        own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        assert {k: tuple(v.shape) for k, v in plain.state_dict().items()} == own


@pytest.mark.parametrize("arch", ["resnet18_ibn_a", "resnet50_ibn_a", "resnet101_ibn_a", "resnet152_ibn_a"])
def test_resnet_ibn_a_layout(arch):
    """IBN in bn1 of every block of stages 1-3 (InstanceNorm on half the channels), plain BN elsewhere."""
    model = timm.create_model(arch)  # works after `import reidzoo`, no extra arguments
    for stage in (1, 2, 3, 4):
        for block in getattr(model, f"layer{stage}"):
            if stage < 4:
                assert isinstance(block.bn1, IBN)
                channels = block.conv1.out_channels
                assert block.bn1.IN.num_features == channels // 2
                assert block.bn1.IN.affine and not block.bn1.IN.track_running_stats
                assert block.bn1.BN.num_features == channels - channels // 2
            else:
                assert type(block.bn1) is nn.BatchNorm2d
            others = [m for n, m in block.named_modules() if n.startswith(("bn2", "bn3", "downsample"))]
            assert not any(isinstance(m, (IBN, nn.InstanceNorm2d)) for m in others)
    assert type(model.bn1) is nn.BatchNorm2d  # the stem has no IBN


def test_resnet_reid_last_stride():
    """The re-ID ResNets keep a 16x8 map at 256x128; last_stride=2 gives timm's usual 8x4."""
    x = _batch(1)
    with torch.inference_mode():
        assert timm.create_model("resnet18_ibn_a").eval().forward_features(x).shape[-2:] == (16, 8)
        assert timm.create_model("resnet18_reid").eval().forward_features(x).shape[-2:] == (16, 8)
        assert timm.create_model("resnet18_reid", last_stride=2).eval().forward_features(x).shape[-2:] == (8, 4)
    with pytest.raises(ValueError, match="last_stride"):
        timm.create_model("resnet18_reid", last_stride=3)


def test_ibn_normalises_the_two_halves_separately():
    torch.manual_seed(0)
    ibn = IBN(8)
    ibn.BN.running_mean.uniform_(-1, 1)
    ibn.BN.running_var.uniform_(0.5, 2)
    ibn.IN.weight.data.uniform_(0.5, 2)
    ibn.eval()
    x = torch.randn(2, 8, 5, 3)
    y = ibn(x)
    assert torch.allclose(y[:, :4], nn.functional.instance_norm(x[:, :4], weight=ibn.IN.weight, bias=ibn.IN.bias))
    assert torch.allclose(y[:, 4:], ibn.BN(x[:, 4:]))
    with pytest.raises(ValueError):
        IBN(1)


@pytest.mark.parametrize("arch,dim", [("vit_tiny_reid_convstem", 192), ("vit_small_reid_convstem", 384),
                                      ("vit_base_reid_convstem", 768)])
def test_vit_convstem_layout(arch, dim):
    """Stem: 7x7/2, 3x3, 3x3 bias-free convs of 64 channels with IBN, IBN, BN; then an 8x8/8 projection."""
    model = timm.create_model(arch, num_classes=0)
    stem = model.patch_embed.conv
    convs = [stem[0], stem[3], stem[6]]
    assert [c.kernel_size for c in convs] == [(7, 7), (3, 3), (3, 3)]
    assert [c.stride for c in convs] == [(2, 2), (1, 1), (1, 1)]
    assert all(c.bias is None and c.out_channels == 64 for c in convs)
    assert isinstance(stem[1], IBN) and isinstance(stem[4], IBN)
    assert stem[1].IN.num_features == 32 and stem[1].BN.num_features == 32
    assert type(stem[7]) is nn.BatchNorm2d
    assert all(isinstance(stem[i], nn.ReLU) for i in (2, 5, 8))
    proj = model.patch_embed.proj
    assert (proj.kernel_size, proj.stride, proj.out_channels) == ((8, 8), (8, 8), dim)
    assert model.pos_embed.shape == (1, 129, dim)  # 16x8 patches + class token at 256x128


def test_vit_convstem_rejects_other_sizes_clearly():
    model = timm.create_model("vit_tiny_reid_convstem", num_classes=0).eval()
    with pytest.raises(ValueError, match="256x128"):
        model(torch.zeros(1, 3, 224, 224))


def _swin_release():
    return release_backbone_state_dict({"teacher": teacher_tensors("swin_tiny")}, "swin_tiny")[0]


def test_swin_release_position_index_is_checked():
    """A relative_position_index that differs from timm's (another window size) fails loudly."""
    sd = _swin_release()
    key = "layers.3.blocks.1.attn.relative_position_index"
    sd[key] = sd[key].flip(0)
    with pytest.raises(CheckpointError, match="another window size"):
        load_release_into(reidzoo.create_model("swin_tiny"), reidzoo.get_spec("swin_tiny"), sd, "swin_tiny")


def test_swin_release_missing_tensor_fails():
    sd = _swin_release()
    del sd["layers.2.blocks.3.mlp.fc1.bias"]
    with pytest.raises(CheckpointError, match="missing"):
        load_release_into(reidzoo.create_model("swin_tiny"), reidzoo.get_spec("swin_tiny"), sd, "swin_tiny")


def test_release_of_another_family_is_rejected():
    """A ResNet-50 release given as ResNet-50-IBN (and vice versa) is refused, not half-loaded."""
    for src, dst in (("resnet50", "resnet50_ibn"), ("resnet50_ibn", "resnet50")):
        sd = release_backbone_state_dict({"teacher": teacher_tensors(src, "x")}, src)[0]
        with pytest.raises(CheckpointError):
            load_release_into(reidzoo.create_model(dst), reidzoo.get_spec(dst), sd, src)
