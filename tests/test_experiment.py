"""The pre-training experiment end to end on the small budget (1 seed): outputs, equal compute, resume, bad input."""
import json
import math

import pytest

from cion.cli import main as cion
from cion.experiment import METRICS, VARIANTS, ExperimentConfig, ExperimentError, run_experiment


def experiment_cli(argv) -> int:
    """`cion experiment ARGV...` in this process; returns the exit status."""
    return cion(["experiment", *argv])


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    import torch
    torch.set_num_threads(1)
    work = tmp_path_factory.mktemp("experiment") / "work"
    assert experiment_cli(["--work", str(work), "--seeds", "0", "--budget", "small", "--threads", "1",
                      "--workers", "0", "--no-progress"]) == 0
    return work


def test_outputs_have_every_variant_with_finite_metrics(work):
    report = json.loads((work / "results.json").read_text())
    assert sorted(r["variant"] for r in report["runs"]) == sorted(VARIANTS)
    for r in report["runs"]:
        for stage in ("frozen", "finetuned"):
            for k in ("mAP", "rank1"):
                assert math.isfinite(r[stage][k]) and 0.0 <= r[stage][k] <= 1.0, (r["variant"], stage, k)
    assert set(report["aggregate"]) == set(VARIANTS)
    for agg in report["aggregate"].values():
        assert agg["seeds"] == [0]
        for m in METRICS:
            assert math.isfinite(agg[m]["mean"]) and agg[m]["std"] == 0.0
    table = (work / "results.md").read_text()
    for title in ("none (random init)", "instance-level", "tracklet-level", "CION"):
        assert title in table
    png = (work / "results.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_equal_pretraining_compute_and_label_files(work):
    report = json.loads((work / "results.json").read_text())
    pre = {r["variant"]: r["pretrain"] for r in report["runs"]}
    assert pre["none"]["images_seen"] == 0
    seen = {pre[v]["images_seen"] for v in ("instance", "tracklet", "cion")}
    crops = {pre[v]["crops_seen"] for v in ("instance", "tracklet", "cion")}
    assert len(seen) == 1 and len(crops) == 1 and seen.pop() > 0
    assert pre["instance"]["K"] == [1, 1] and pre["cion"]["K"] == pre["tracklet"]["K"] != [1, 1]
    seed = work / "seed0"
    inst = json.loads((seed / "labels" / "instance.json").read_text())
    trk = json.loads((seed / "labels" / "tracklet.json").read_text())
    assert [a["id"] for a in inst] == list(range(len(inst)))  # one identity per image
    ids = sorted({a["id"] for a in trk})
    assert ids == list(range(len(ids))) and len(ids) < len(trk)  # contiguous, several crops per tracklet
    assert all((seed / "mined" / a["file_path"]).is_file() for a in inst + trk)
    quality = report["seeds"]["0"]["label_quality"]
    assert quality["tracklet"]["pair_precision"] > 0.9  # ground-truth boxes: tracklets are nearly pure
    # the benchmark's people are not the videos' people: the benchmark was drawn after them
    sizes = json.loads((work / "experiment.json").read_text())["budget_sizes"]
    video_ids = {i for v in json.loads((seed / "world" / "videos" / "identities.json").read_text()).values()
                 for i in v.values()}
    assert max(video_ids) < sizes["videos"]["n_identities"] <= sizes["benchmark"]["identity_offset"]


def test_rerun_skips_finished_runs(work):
    stamps = {v: (work / "seed0" / v / "result.json").stat().st_mtime_ns for v in VARIANTS}
    report = run_experiment(ExperimentConfig(work=str(work), seeds=[0], budget="small", threads=1, num_workers=0,
                                             progress=False))
    assert report["wall_s"] < 60
    assert {v: (work / "seed0" / v / "result.json").stat().st_mtime_ns for v in VARIANTS} == stamps


def test_bad_input_says_what_to_do(work, capsys):
    with pytest.raises(ExperimentError, match="budget"):
        run_experiment(ExperimentConfig(work=str(work), seeds=[0], budget="huge"))
    with pytest.raises(ExperimentError, match="another --work"):
        run_experiment(ExperimentConfig(work=str(work), seeds=[0], budget="small", model="ghostnet_1_0"))
    assert experiment_cli(["--work", str(work), "--seeds", "0", "--budget", "small", "--model", "no_such_net"]) == 2
    assert "unknown ReIDZoo model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        experiment_cli(["--help"])
    assert "equal compute" in capsys.readouterr().out


def test_paired_differences_cancel_seed_noise():
    from cion.experiment import paired_differences
    runs = [{"variant": v, "seed": s, "frozen": {"mAP": base + gain}, "finetuned": {"mAP": base + 2 * gain}}
            for s, base in ((0, 0.10), (1, 0.30), (2, 0.20))
            for v, gain in (("none", 0.0), ("cion", 0.02 + 0.01 * s), ("tracklet", 0.02))]
    d = paired_differences(runs)
    assert d["cion − none"]["frozen"]["values"] == pytest.approx([2.0, 3.0, 4.0])
    assert d["cion − none"]["frozen"]["mean"] == pytest.approx(3.0) and d["cion − none"]["frozen"]["std"] == pytest.approx(1.0)
    assert d["cion − none"]["finetuned"]["mean"] == pytest.approx(6.0)
    assert "instance − none" not in d   # no instance runs: no pair
