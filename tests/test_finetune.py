"""Fine-tuning: a tiny real run learns, resumes exactly, and refuses bad run directories."""
import json

import numpy as np
import pytest
import torch

import reidzoo
from own_identities import train_split
from reidzoo.cards import Provenance, card_claims_paper_results, card_provenance
from reidzoo.cli import main as cli
from reidzoo.data.synthetic import make_market_like
from reidzoo.finetune import FinetuneConfig, RunDirError, evaluate_backbone, export_finetuned, finetune
from reidzoo.finetune.data import CameraPKSampler, PKSampler
from reidzoo.finetune.fewshot import few_shot_identities
from reidzoo.finetune.losses import BatchHardTripletLoss

ID_EPOCHS, ID_FRACTION = 16, 0.85


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "market"
    make_market_like(root, n_ids_train=16, n_ids_test=4, cameras=3, images_per_id=6, seed=3, progress=False)
    return root


def _cfg(root, **kw):
    base = dict(model="ghostnet_0_5", dataset="synthetic", root=str(root), epochs=6, p=4, k=4, lr=1e-3,
                warmup_epochs=1, eval_every=100, num_workers=0, batch_size_eval=32, seed=0)
    base.update(kw)
    return FinetuneConfig(**base)


def test_pk_sampler_batches_are_p_identities_by_k():
    labels = [0] * 6 + [1] * 2 + [2] * 5 + [3] * 4 + [4] * 9
    s = PKSampler(labels, p=3, k=4, seed=1)
    idx = list(s)
    assert len(idx) % 12 == 0 and idx == list(PKSampler(labels, p=3, k=4, seed=1))
    for b in range(0, len(idx), 12):
        lab = [labels[i] for i in idx[b:b + 12]]
        assert len(set(lab)) == 3 and all(lab.count(c) == 4 for c in set(lab))
    s.set_epoch(1)
    assert list(s) != idx


def test_camera_sampler_takes_the_anchors_companions_from_other_cameras():
    # identity 0: cameras 0,0,1,2 (companions from other cameras); 1: one camera (other images);
    # 2: five images over 3 cameras; 3: a single image (repeated); 4: many images, two cameras
    labels = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3] + [4] * 8
    cams = [0, 0, 1, 2, 0, 0, 0, 0, 1, 1, 2, 2, 3, 0] + [0] * 4 + [5] * 4
    s = CameraPKSampler(labels, cams, p=2, k=4, seed=3)
    seen = set()
    for epoch in range(20):
        s.set_epoch(epoch)
        batches = s._batches()
        assert len(batches) == 2 and all(len(b) == 8 for b in batches)      # 5 identities, P = 2: 2 batches
        again = CameraPKSampler(labels, cams, p=2, k=4, seed=3)
        again.set_epoch(epoch)
        assert list(again) == [i for b in batches for i in b]                 # (seed, epoch) fix the order
        for b in batches:
            groups = [b[i:i + 4] for i in (0, 4)]
            assert len({labels[g[0]] for g in groups}) == 2
            for anchor, *rest in groups:
                pid = labels[anchor]
                assert all(labels[i] == pid for i in rest)
                seen.add(pid)
                if pid == 3:
                    assert rest == [anchor] * 3
                elif pid == 1:
                    assert anchor not in rest
                else:
                    assert all(cams[i] != cams[anchor] for i in rest)
                if pid == 4:     # 4 images on the other camera, at least K: drawn without replacement
                    assert len(set(rest)) == 3
    assert seen == {0, 1, 2, 3, 4}
    with pytest.raises(ValueError, match="camera ids"):
        CameraPKSampler(labels, cams[:-1], p=2, k=4)


def test_normalised_triplet_gives_no_reward_for_shrinking_features():
    # The cause of the dead GhostNet features: with raw features, scaling every feature down lowers a
    # violated triplet loss towards the margin; on normalised features the scale does not matter.
    g = torch.Generator().manual_seed(0)
    f, y = torch.randn(16, 8, generator=g), torch.arange(4).repeat_interleave(4)
    raw, unit = BatchHardTripletLoss(0.3), BatchHardTripletLoss(0.3, normalize=True)
    assert raw(0.1 * f, y) < raw(f, y) and raw(1e-4 * f, y).item() == pytest.approx(0.3, abs=1e-3)
    assert unit(0.1 * f, y).item() == pytest.approx(unit(f, y).item(), rel=1e-5)


def test_triplet_soft_and_hard_margin():
    f = torch.tensor([[0.0, 0], [0, 1], [5, 5], [5, 6]])
    y = torch.tensor([0, 0, 1, 1])
    assert BatchHardTripletLoss(0.3)(f, y).item() == pytest.approx(0.0)
    # Hardest negatives: sqrt(50) for the outer points, sqrt(41) for the inner ones; d_ap = 1.
    soft = np.mean([np.log1p(np.exp(1 - np.sqrt(d))) for d in (50, 41, 41, 50)])
    assert BatchHardTripletLoss(None)(f, y).item() == pytest.approx(float(soft), rel=1e-5)


def test_tiny_finetune_learns_and_resumes(market, tmp_path):
    torch.set_num_threads(2)
    # resnet18: from the seeded init, 6 short epochs lift its train-identity mAP clearly (0.05 -> 0.14);
    # ghostnet_0_5 does not learn that fast from random weights.
    cfg = _cfg(market, model="resnet18", lr=3.5e-4, triplet_normalize=False)  # the BoT recipe of the Market configs
    split = train_split(market)
    torch.manual_seed(cfg.seed)  # the very weights finetune() starts from (it seeds, then builds)
    before = evaluate_backbone(reidzoo.load(cfg.model, pretrained=False).eval(), split, cfg, progress=False)
    res = finetune(cfg, tmp_path / "full", progress=False)
    hist = res["history"]
    assert hist[-1]["loss"] < hist[0]["loss"]
    ck = torch.load(tmp_path / "full" / "last.pth", weights_only=True)
    model = reidzoo.load(cfg.model, pretrained=False)
    model.load_state_dict({k[9:]: v for k, v in ck["model"].items() if k.startswith("backbone.")})
    after = evaluate_backbone(model.eval(), split, cfg, progress=False)
    assert after["mAP"] > before["mAP"] + 0.02, (before["mAP"], after["mAP"])
    assert (tmp_path / "full" / "curves.png").stat().st_size > 0
    # the reported numbers are the last epoch's; no checkpoint is chosen by its test mAP
    assert res["last"]["epoch"] == cfg.epochs and res["last"]["mAP"] == hist[-1]["mAP"]
    assert not (tmp_path / "full" / "best.pth").exists()

    # Interrupted after 1 epoch, then resumed: the same weights as an uninterrupted run.
    quick = _cfg(market, epochs=3, max_iters_per_epoch=2)
    finetune(quick, tmp_path / "straight", progress=False)
    finetune(quick, tmp_path / "resumed", progress=False, stop_after_epochs=1)
    finetune(quick, tmp_path / "resumed", resume=True, progress=False)
    a = torch.load(tmp_path / "resumed" / "last.pth", weights_only=True)["model"]
    b = torch.load(tmp_path / "straight" / "last.pth", weights_only=True)["model"]
    for k, v in b.items():
        torch.testing.assert_close(a[k], v, rtol=0, atol=1e-5)

    hub = export_finetuned(tmp_path / "full" / "last.pth", tmp_path / "hub")
    with torch.no_grad():
        x = torch.randn(2, 3, 256, 128)
        torch.testing.assert_close(reidzoo.load(hub)(x), model(x), rtol=0, atol=1e-5)
    card = (hub / "README.md").read_text()
    assert card_provenance(card) == "finetune" and not card_claims_paper_results(card)


def test_id_loss_learns_and_features_stay_alive(market, tmp_path):
    # Regression: with the triplet loss on raw features, ghostnet's pooled features (after a ReLU) shrank
    # to exactly zero for every image; the ID loss then sat at ln(C) and the run could never recover.
    torch.set_num_threads(2)
    hist = finetune(_cfg(market, epochs=ID_EPOCHS), tmp_path / "id",
                    progress=False)["history"]
    ln_c = float(np.log(16))
    seen = {k: [round(h[k], 3) for h in hist] for k in ("id", "acc", "dead", "feat_norm")}
    assert hist[0]["id"] > 0.95 * ln_c and hist[-1]["id"] < ID_FRACTION * ln_c, seen
    assert hist[-1]["acc"] > hist[0]["acc"] + 0.12, seen
    assert max(h["dead"] for h in hist) < 0.9 and hist[-1]["feat_norm"] > 0.5 * hist[0]["feat_norm"], seen


def test_few_shot_subset_is_seeded_and_keeps_whole_identities(market, tmp_path):
    train = reidzoo.data.Market1501(market).train
    sub = few_shot_identities(train, fraction=0.25, seed=1)
    pids = {pid for _, pid, _ in sub}
    assert len(pids) == 4 and sub == [it for it in train if it[1] in pids]
    assert few_shot_identities(train, count=4, seed=1) == sub == few_shot_identities(train, fraction=0.25, seed=1)
    assert {pid for _, pid, _ in few_shot_identities(train, fraction=0.25, seed=2)} != pids
    assert few_shot_identities(train) == train
    for kw, msg in ((dict(fraction=0.0), "train_fraction"), (dict(count=17), "between 1 and 16"),
                    (dict(fraction=0.5, count=3), "not both")):
        with pytest.raises(ValueError, match=msg):
            few_shot_identities(train, **kw)
    # the run trains a 4-way classifier on exactly those people
    finetune(_cfg(market, epochs=1, max_iters_per_epoch=1, train_fraction=0.25, seed=1), tmp_path / "fs",
             progress=False)
    assert torch.load(tmp_path / "fs" / "last.pth", weights_only=True)["model"]["classifier.weight"].shape[0] == 4


def test_run_dir_and_bad_inputs(market, tmp_path, capsys):
    cfg = _cfg(market, epochs=1, max_iters_per_epoch=1)
    finetune(cfg, tmp_path / "run", progress=False)
    other = _cfg(market, epochs=1, max_iters_per_epoch=1, lr=5e-4)
    with pytest.raises(RunDirError, match="already holds a run"):
        finetune(other, tmp_path / "run", progress=False)
    with pytest.raises(RunDirError, match=r"different config \(differs in \['lr'\]\)"):
        finetune(other, tmp_path / "run", resume=True, progress=False)
    # Disk full while writing a checkpoint: the previous checkpoint stays intact.
    before = (tmp_path / "run" / "last.pth").read_bytes()
    real_save = torch.save

    def full_disk(obj, f, *a, **k):
        f.write(b"partial")
        raise OSError(28, "No space left on device")
    torch.save = full_disk
    try:
        with pytest.raises(OSError, match="No space left"):
            finetune(_cfg(market, epochs=2, max_iters_per_epoch=1), tmp_path / "run", overwrite=True,
                     progress=False)
    finally:
        torch.save = real_save
    assert not list((tmp_path / "run").glob(".*tmp*"))
    finetune(cfg, tmp_path / "run2", progress=False)
    assert (tmp_path / "run2" / "last.pth").read_bytes()[:2] == before[:2]

    # Missing dataset root: a clear error, nothing written.
    assert cli(["finetune", "--dataset", "market1501", "--root", tmp_path / "nope", "--out", tmp_path / "r3"]) == 2
    assert "Expected layout" in capsys.readouterr().err and not (tmp_path / "r3").exists()
    # Model / weights mismatch: resnet18 weights for a ghostnet run.
    w = tmp_path / "r18"
    reidzoo.save_hub_folder(reidzoo.create_model("resnet18"), "resnet18", w, provenance=Provenance.random_init())
    assert cli(["finetune", "--model", "ghostnet_0_5", "--init", w, "--dataset", "synthetic", "--root", market,
                "--out", tmp_path / "r4"]) == 2
    err = capsys.readouterr().err
    assert "holds 'resnet18' weights" in err, err
