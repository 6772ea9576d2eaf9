"""The quickstart chain (cion.quickstart on cion.stages) on a tiny preset file: report, last-epoch numbers, re-run."""
import json

import pytest
import yaml

from cion.quickstart import INIT_TITLES, QuickstartConfig, run_quickstart
from cion.stages import load_preset, stage_record


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    import torch
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("quickstart")
    # the experiment's smoke sizes (ground-truth boxes, a tiny head), as a user's own preset file
    preset = {**load_preset("experiment_small"), "model": "ghostnet_1_0"}
    (tmp / "tiny.yaml").write_text(yaml.safe_dump(preset))
    cfg = QuickstartConfig(seed=1, preset=str(tmp / "tiny.yaml"), threads=1, workers=1, num_workers=0)
    report = run_quickstart(tmp / "work", cfg, progress=False, log=None)
    return tmp / "work", cfg, report


def test_report_and_results_use_the_last_epoch(run):
    work, cfg, report = run
    text = report.read_text()
    for title in INIT_TITLES.values():
        assert f"| {title} |" in text
    res = json.loads((work / "results.json").read_text())
    assert res["epoch_reported"] == "last" and set(res["results"]) == set(INIT_TITLES)
    for r in res["results"].values():
        assert 0.0 <= r["mAP"] <= 1.0 and 0.0 <= r["rank1"] <= 1.0
    ft = stage_record(work / "finetune")["result"]
    assert ft["epochs"] == load_preset(cfg.preset)["finetune"]["epochs"]
    assert not (work / "finetune" / "best.pth").exists()
    # the evaluated fine-tuned model is the last epoch's: the same numbers the run logged at its end
    assert res["results"]["finetuned"]["mAP"] == pytest.approx(ft["last"]["mAP"], abs=1e-4)
    # what the report claims is checked on its own numbers, and the pre-training is summarised beside ln D
    assert res["evaluation"] == {"bn": "as_is", "input_size": [64, 32]}
    r, p, f = (res["results"][k]["mAP"] for k in ("random", "pretrained", "finetuned"))
    assert res["checks"]["pretrained_beats_random"]["holds"] == (p > r)
    assert res["checks"]["finetuned_doubles_random"]["holds"] == (f >= 2 * r)
    assert res["pretrain"]["steps"] > 0 and res["pretrain"]["ln_out_dim"] == pytest.approx(6.238, abs=1e-3)
    assert res["pretrain"]["teacher_entropy_ratio_last"] is not None
    assert "CION pre-trained frozen mAP" in text and "x ln D" in text
    for png in ("evaluation/cmc.png", "evaluation/ranked.png", "mined_tracklets.png", "finetune/curves.png"):
        assert (work / png).stat().st_size > 1000, png


def test_rerun_skips_every_stage(run):
    work, cfg, _ = run
    before = {p.parent.name: p.stat().st_mtime_ns for p in work.glob("**/stage.json")}
    assert len(before) >= 8
    lines = []
    run_quickstart(work, cfg, progress=False, log=lines.append)
    assert all("skipped" in x for x in lines) and len(lines) == len(before)
    assert {p.parent.name: p.stat().st_mtime_ns for p in work.glob("**/stage.json")} == before
