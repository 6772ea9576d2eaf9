"""cion.pretrain units: loss vs. the direct formula, sampler, multi-crop, CION-AL data errors, export."""
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from cion.pretrain.augment import MultiCrop, MultiCropConfig, normalize_views, stack_views
from cion.pretrain.config import load_config
from cion.pretrain.data import AnnotationError, CionALDataset, CollateIdentityBatch, read_annotations
from cion.pretrain.head import DINOHead
from cion.pretrain.loss import IdentityDistillationLoss, identity_loss_direct
from cion.pretrain.sampler import IdentityBatchSampler, k_for_epoch
from cion.pretrain.schedules import cosine_schedule
from cion.pretrain.toyset import make_toy_cional


@pytest.mark.parametrize("K,P,V", [(4, 3, 5), (2, 4, 3), (1, 6, 4)])
def test_loss_matches_direct_formula_values_and_grads(K, P, V):
    torch.manual_seed(0)
    D, B = 97, P * K
    student = (torch.randn(V * B, D) * 3).double()
    teacher = (torch.randn(2 * B, D) * 3).double()
    loss_fn = IdentityDistillationLoss(D, V).double()
    loss_fn.center.normal_()
    center = loss_fn.center.clone()
    s1 = student.clone().requires_grad_(True)
    ours = loss_fn(s1, teacher, K)
    ours.backward()
    s2 = student.clone().requires_grad_(True)
    direct = identity_loss_direct(s2, teacher, center, V, K)
    direct.backward()
    assert torch.allclose(ours, direct.to(ours.dtype), rtol=1e-6)
    assert torch.allclose(s1.grad, s2.grad.to(s1.grad.dtype), rtol=1e-5, atol=1e-10)
    # the center moved towards the teacher mean by (1 - momentum)
    assert torch.allclose(loss_fn.center, center * 0.9 + teacher.mean(0, keepdim=True) * 0.1)


def test_loss_k1_is_dino_and_pairs_matter():
    torch.manual_seed(1)
    D, B, V = 16, 6, 4
    s, t = torch.randn(V * B, D), torch.randn(2 * B, D)
    f = IdentityDistillationLoss(D, V)
    dino = f(s, t, 1)
    f.center.zero_()
    q = torch.softmax(t / 0.04, -1).chunk(2)
    ls = torch.log_softmax(s / 0.1, -1).chunk(V)
    ref = torch.stack([-(q[g] * ls[v]).sum(-1).mean() for g in range(2) for v in range(V) if v != g]).mean()
    assert torch.allclose(dino, ref, rtol=1e-5)
    f.center.zero_()
    assert not torch.allclose(f(s, t, 2), ref)  # identity pairs change the loss
    with pytest.raises(ValueError, match="whole number of identities"):
        f(s, t, 4)


def test_sampler_identities_whole_disjoint_deterministic():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(40), rng.integers(1, 12, 40))  # includes 1-image identities
    s0 = IdentityBatchSampler(labels, 3, 4, world_size=2, rank=0, seed=5, epoch=2)
    s1 = IdentityBatchSampler(labels, 3, 4, world_size=2, rank=1, seed=5, epoch=2)
    b0, b1 = list(s0), list(s1)
    assert len(b0) == len(b1) == len(s0) > 0
    for x, y in zip(b0, b1):
        lx, ly = labels[[i for i, _ in x]].reshape(3, 4), labels[[i for i, _ in y]].reshape(3, 4)
        assert (lx == lx[:, :1]).all() and (ly == ly[:, :1]).all()       # K images of one identity
        assert len(set(lx[:, 0]) | set(ly[:, 0])) == 6                   # distinct, disjoint across ranks
    again = IdentityBatchSampler(labels, 3, 4, world_size=2, rank=0, seed=5, epoch=2)
    assert list(again) == b0
    assert list(IdentityBatchSampler(labels, 3, 4, world_size=2, rank=0, seed=5, epoch=3)) != b0
    # a 1-process sampler with the same global batch sees the same images and seeds
    single = list(IdentityBatchSampler(labels, 6, 4, world_size=1, seed=5, epoch=2))
    assert single == [x + y for x, y in zip(b0, b1)]
    # start_batch resumes mid-epoch
    s0.set_epoch(2, start_batch=2)
    assert list(s0) == b0[2:]
    with pytest.raises(ValueError, match="distinct"):
        IdentityBatchSampler(labels, 30, 4, world_size=2)


def test_gradual_k_and_schedules():
    assert [k_for_epoch(e, [40, 60, 80, 100], [2, 4, 6, 8]) for e in (0, 39, 40, 79, 99, 120)] == [2, 2, 4, 6, 8, 8]
    lr = cosine_schedule(1.0, 0.0, [3, 3, 5, 5], warmup_epochs=1)
    assert len(lr) == 16 and lr[0] == 0 and lr[2] == 1.0 and lr[3] == 1.0 and lr[-1] < 0.02


def test_multicrop_shapes_and_determinism():
    cfg = MultiCropConfig(local_crops=3)
    mc = MultiCrop(cfg)
    img = np.random.default_rng(0).integers(0, 256, (300, 120, 3), dtype=np.uint8)
    a, b = mc(img, np.random.default_rng(7)), mc(img, np.random.default_rng(7))
    assert [v.shape for v in a] == [(256, 128, 3)] * 2 + [(128, 64, 3)] * 3
    assert all(v.dtype == np.uint8 for v in a) and all((x == y).all() for x, y in zip(a, b))
    views = stack_views([a, mc(img, np.random.default_rng(8))])
    assert views[0].shape == (2, 3, 256, 128) and views[2].shape == (2, 3, 128, 64)
    x = normalize_views(views[0])
    assert x.dtype == torch.float32 and -3 < x.mean() < 3


@pytest.fixture()
def broken_set(tmp_path):
    root = make_toy_cional(tmp_path / "set", n_ids=4, images_per_id=[3, 3, 1, 2], size=(64, 32))
    annos = json.loads((root / "annotations.json").read_text())
    (root / annos[0]["file_path"]).write_bytes(b"not a jpeg")           # corrupt image of identity 0
    (root / annos[6]["file_path"]).unlink()                             # identity 2's only image is missing
    annos.append({"file_path": "images/nowhere.jpg", "id": 3})          # annotation pointing nowhere
    (root / "annotations.json").write_text(json.dumps(annos))
    return root


def test_unreadable_images_are_replaced_or_their_identity_dropped(broken_set):
    ds = CionALDataset(broken_set, broken_set / "annotations.json",
                       MultiCrop(MultiCropConfig(global_size=(32, 16), local_size=(16, 8), local_crops=1)))
    views, label, failed = ds[(0, 1)]                     # corrupt -> another image of identity 0
    assert views is not None and label == 0 and len(failed) == 1 and failed[0].endswith("000.jpg")
    views, label, failed = ds[(6, 1)]                     # the only image is missing -> nothing to use
    assert views is None and label == 2
    collate = CollateIdentityBatch(2)
    batch = collate([ds[(0, 1)], ds[(1, 2)], ds[(6, 3)], ds[(6, 4)]])
    assert batch["dropped"] == 1 and len(batch["failed"]) == 3 and batch["views"][0].shape[0] == 2


def test_annotation_errors(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    with pytest.raises(AnnotationError, match="no images"):
        read_annotations(empty)
    blank = tmp_path / "blank.json"
    blank.write_text("")
    with pytest.raises(AnnotationError, match="JSON list"):
        read_annotations(blank)
    bad = tmp_path / "bad.json"
    bad.write_text('[{"file": "a.jpg"}]')
    with pytest.raises(AnnotationError, match="entry 0"):
        read_annotations(bad)
    with pytest.raises(AnnotationError, match="does not exist"):
        read_annotations(tmp_path / "nope.json")


def test_head_shapes_and_frozen_gain():
    h = DINOHead(32, out_dim=50, hidden_dim=16, bottleneck_dim=8, nlayers=3)
    assert h(torch.randn(4, 32)).shape == (4, 50)
    assert not h.last_layer.gain.requires_grad
    assert DINOHead(32, 50, 16, 8, norm_last_layer=False).last_layer.gain.requires_grad


def test_config_errors_and_overrides(tmp_path):
    cfg = load_config(None, ["epochs=3", "gradual_epochs=[1,3]", "gradual_instances=[2,4]", "model=resnet18"])
    assert cfg.epochs == 3 and cfg.gradual_instances == [2, 4] and cfg.model == "resnet18"
    with pytest.raises(ValueError, match="did you mean epochs"):
        load_config(None, ["epoch=3"])
    # values the types allow but that cannot work fail before anything runs, naming where they came from
    for override, message in [("epochs=-1", "override: epochs must be >= 1, got -1"),
                              ("epochs=true", "epochs must be an integer, got True"),
                              ("device=tpu", "device 'tpu' is not one this package runs on"),
                              ("precision=fp8", "precision must be one of auto, fp32, bf16, fp16"),
                              ("lr=0", "lr must be > 0"), ("augment.flip_p=1.5", "augment.flip_p must be between"),
                              ("gradual_instances=[2,4]", "must be non-empty lists of the same length")]:
        with pytest.raises(ValueError, match=re.escape(message)):
            load_config(None, [override])


def test_every_zoo_model_has_a_config_from_its_spec(tmp_path):
    import reidzoo
    from cion.pretrain.config import zoo_config
    for name in reidzoo.model_names():
        cfg = load_config(model=name)
        assert cfg == zoo_config(name) and cfg.model == name and cfg.output_dir == f"runs/pretrain/{name}"
        assert (cfg.batch_size_per_gpu, cfg.augment.local_crops) == reidzoo.get_spec(name).pretrain_sizing()
        assert all(cfg.batch_size_per_gpu % k == 0 for k in cfg.gradual_instances)
    # the sizing rule at its edges, and the VOLO specs' own pairs
    sizes = {n: load_config(model=n) for n in ("resnet50", "resnet152", "convnext_base", "vit_base", "volo_d3")}
    assert {n: (c.batch_size_per_gpu, c.augment.local_crops) for n, c in sizes.items()} == {
        "resnet50": (120, 8), "resnet152": (96, 8), "convnext_base": (72, 6), "vit_base": (48, 6),
        "volo_d3": (48, 4)}
    # a YAML and overrides go on top of the zoo recipe
    (tmp_path / "c.yaml").write_text("epochs: 10\naugment: {hue: 0.0}\n")
    cfg = load_config(str(tmp_path / "c.yaml"), ["lr=1e-3"], model="swin_base")
    assert (cfg.epochs, cfg.augment.hue, cfg.lr, cfg.batch_size_per_gpu, cfg.augment.local_crops) == (
        10, 0.0, 1e-3, 72, 6)
    with pytest.raises(KeyError, match="Did you mean: swin_base"):
        load_config(model="swin_bsae")
    folder = Path(__file__).resolve().parents[1] / "configs" / "pretrain"
    load_config(str(folder / "cpu_smoke.yaml"))
    learn = load_config(str(folder / "cpu_learn.yaml"))
    assert learn.centering == "sinkhorn" and learn.batch_size_per_gpu % learn.gradual_instances[0] == 0
    assert learn.augment.jitter_p == 0.0 and learn.augment.solarize_p == (0.0, 0.0, 0.0)


def test_annotations_from_synthetic_market_world(tmp_path):
    from reidzoo.data.synthetic import make_market_like
    from cion.pretrain.data import annotations_from_market
    root = make_market_like(tmp_path / "world", n_ids_train=5, n_ids_test=2, cameras=2, images_per_id=4, seed=0,
                            progress=False)
    out = annotations_from_market(root)
    items = read_annotations(out)
    ids = [i for _, i in items]
    assert ids == sorted(ids) and set(ids) == set(range(5))
    ds = CionALDataset(out.parent, out, MultiCrop(MultiCropConfig(global_size=(32, 16), local_size=(16, 8),
                                                                  local_crops=1)))
    views, label, failed = ds[(0, 0)]
    assert views is not None and not failed and label == 0
