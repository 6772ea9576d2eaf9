"""One record per zoo model: list_models, the docs table, the measurements and the sizing derive from the ZooSpec."""
import json
from pathlib import Path

import pytest

import reidzoo
from reidzoo.models.measure import measure
from reidzoo.models.registry import MEASURED_JSON, measured_table
from reidzoo.models.spec import PaperNumbers, ZooSpec, pretrain_sizing_rule
from reidzoo.models.table import markdown_table, table_in

ROOT = Path(__file__).resolve().parents[1]


def test_list_models_rows_come_from_the_specs_and_measurements():
    measured = measured_table()
    rows = reidzoo.list_models()
    assert [r["name"] for r in rows] == reidzoo.model_names()
    for r in rows:
        spec = reidzoo.get_spec(r["name"])
        paper = spec.paper.row()
        assert (r["family"], r["arch"], r["embed_dim"]) == (spec.family, spec.arch, spec.embed_dim)
        assert (r["paper_params_m"], r["paper_backbone_params_m"], r["paper_flops_g"]) == (
            paper["params_m"], paper["backbone_params_m"], paper["flops_g"])
        assert (r["market1501_map"], r["msmt17_rank1"]) == (spec.paper.market1501[0], spec.paper.msmt17[1])
        assert (r["pretrain_batch_per_gpu"], r["pretrain_local_crops"]) == spec.pretrain_sizing()
        assert (r["params_m"], r["flops_g"]) == (measured[r["name"]]["params_m"], measured[r["name"]]["flops_g"])


def test_measurements_cover_every_spec_and_reproduce():
    stored = json.loads(MEASURED_JSON.read_text())
    missing = [n for n in reidzoo.model_names() if n not in stored]
    assert not missing, f"run `reidzoo zoo measure {' '.join(missing)}`"
    assert list(stored) == reidzoo.model_names()
    assert measure("ghostnet_0_5") == stored["ghostnet_0_5"]  # the one measure command reproduces the file


def test_docs_table_is_derived():
    doc = (ROOT / "docs" / "zoo.md").read_text()
    assert table_in(doc) == markdown_table(), "the zoo table in docs/zoo.md is stale: run `reidzoo zoo measure`"


def test_pretrain_sizing_from_the_spec():
    assert [pretrain_sizing_rule(f) for f in (0.03, 5.0, 5.1, 9.5, 10.0, 12.0)] == [
        (120, 8), (120, 8), (96, 8), (96, 8), (72, 6), (48, 6)]
    paper = PaperNumbers(10.0, 6.0, market1501=(90.0, 95.0), msmt17=(60.0, 80.0))
    assert ZooSpec("new_net", "New", "resnet18", 512, paper=paper).pretrain_sizing() == (96, 8)
    assert ZooSpec("new_net", "New", "resnet18", 512, paper=paper, pretrain=(32, 2)).pretrain_sizing() == (32, 2)
    assert paper.row()["backbone_params_m"] == 10.0
    with pytest.raises(ValueError, match="pretrain=\\(batch, locals\\) or paper numbers"):
        ZooSpec("new_net", "New", "resnet18", 512).pretrain_sizing()


def test_release_card_numbers_come_from_the_spec():
    from reidzoo.cards import Provenance, card_text
    spec = reidzoo.get_spec("swin_small")
    card = card_text("swin_small", Provenance.release(), "org/swin_small")
    assert f"| Market-1501 | {spec.paper.market1501[0]:.1f} | {spec.paper.market1501[1]:.1f} |" in card
