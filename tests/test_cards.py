"""Hub folders' model cards follow their provenance; publishing refuses a card that does not."""
import json
import shutil

import pytest
import torch

import reidzoo
from cion.pretrain.config import PretrainConfig
from reidzoo.cards import Provenance, card_claims_paper_results, card_provenance
from reidzoo.cli import main as cli
from reidzoo.finetune import FinetuneConfig
from reidzoo.publish import plan_upload

NAME = "resnet18"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """One resnet18 hub folder per provenance kind (same random weights: only the story differs)."""
    torch.manual_seed(0)
    model = reidzoo.create_model(NAME).eval()
    base = tmp_path_factory.mktemp("cards")
    kinds = {
        "release": Provenance.release("resnet18.pth"),
        "cion-pretrain": Provenance.pretrain(PretrainConfig(model=NAME, epochs=3, annotations="toy/annos.json").to_dict(),
                                             epochs_done=3, iterations=36),
        "finetune": Provenance.finetune(FinetuneConfig(model=NAME, dataset="synthetic", epochs=2).to_dict(),
                                        epochs_done=2, metrics={"mAP": 0.41, "rank1": 0.6}),
        "random-init": Provenance.random_init(0),
    }
    return {k: reidzoo.save_hub_folder(model, NAME, base / k, provenance=p) for k, p in kinds.items()}


def test_only_the_release_card_carries_the_paper_results(folders):
    paper_map = f"{reidzoo.get_spec(NAME).paper.market1501[0]:.1f}"
    for kind, folder in folders.items():
        card = (folder / "README.md").read_text()
        cfg = json.loads((folder / "config.json").read_text())
        assert cfg["reidzoo"]["provenance"]["kind"] == kind == card_provenance(card)
        assert Provenance.from_json(cfg["reidzoo"]["provenance"]).kind == kind
        assert card_claims_paper_results(card) == (kind == "release"), kind
        assert ("model-index" in card) == (kind == "release") and (f"| {paper_map} |" in card) == (kind == "release")
        assert plan_upload(folder, "my-org")["name"] == NAME  # every consistent folder may be published
    pre = (folders["cion-pretrain"] / "README.md").read_text()
    assert "toy/annos.json" in pre and "3 of 3 epochs" in pre and "not** the ReIDZoo release" in pre
    assert "mAP 41.00" in (folders["finetune"] / "README.md").read_text()
    assert "torch seed 0" in (folders["random-init"] / "README.md").read_text()
    assert json.loads((folders["cion-pretrain"] / "config.json").read_text())["reidzoo"]["provenance"]["config"]["epochs"] == 3


def test_publish_refuses_a_card_that_does_not_match(folders, tmp_path, capsys):
    # The release card (paper results) copied into a pre-training run's folder.
    wrong = tmp_path / "wrong"
    shutil.copytree(folders["cion-pretrain"], wrong)
    shutil.copy(folders["release"] / "README.md", wrong / "README.md")
    with pytest.raises(ValueError, match="describes release but config.json records cion-pretrain"):
        plan_upload(wrong, "my-org")
    # A random-init card edited by hand to show the paper's results.
    edited = tmp_path / "edited"
    shutil.copytree(folders["random-init"], edited)
    release_card = (folders["release"] / "README.md").read_text()
    (edited / "README.md").write_text(release_card.replace("reidzoo_provenance: release",
                                                           "reidzoo_provenance: random-init"))
    with pytest.raises(ValueError, match="claims the CION paper's results"):
        plan_upload(edited, "my-org")
    # A folder from before provenance was recorded.
    old = tmp_path / "old"
    shutil.copytree(folders["release"], old)
    cfg = json.loads((old / "config.json").read_text())
    del cfg["reidzoo"]["provenance"]
    (old / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="records no provenance"):
        plan_upload(old, "my-org")
    # The command line says so in one line per folder, goes on with the others, and lists the failures at the end.
    capsys.readouterr()
    assert cli(["publish", str(wrong), str(folders["release"]), "--org", "my-org", "--dry-run"]) == 1
    out = capsys.readouterr()
    lines = out.err.strip().splitlines()
    assert len(lines) == 2 and "config.json records cion-pretrain" in lines[0]
    assert lines[1].startswith("error: 1 of 2 folder(s) not published: ") and str(wrong) in lines[1]
    assert "my-org/resnet18" in out.out and "nothing uploaded" in out.out


def test_unknown_provenance_kind_is_refused():
    with pytest.raises(ValueError, match="unknown provenance kind"):
        Provenance("trained-somewhere")
