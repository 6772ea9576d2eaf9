"""Fine-tuning: a tiny real run learns, resumes exactly, and refuses bad run directories."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import reidzoo
from reidzoo.cards import Provenance, card_claims_paper_results, card_provenance
from reidzoo.cli import main as cli
from reidzoo.data.synthetic import make_market_like
from reidzoo.finetune import FinetuneConfig, RunDirError, evaluate_backbone, export_finetuned, finetune
from reidzoo.finetune.data import PKSampler
from reidzoo.finetune.losses import BatchHardTripletLoss



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


def _train_split(root):
    """Query = one image per train identity, gallery = the rest: mAP on the training people."""
    ds = reidzoo.data.Market1501(root)
    first = {}
    for it in ds.train:
        first.setdefault(it[1], it)
    q = list(first.values())
    return SimpleNamespace(query=q, gallery=[it for it in ds.train if it not in q])


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
    cfg = _cfg(market, model="resnet18", lr=3.5e-4)
    split = _train_split(market)
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
