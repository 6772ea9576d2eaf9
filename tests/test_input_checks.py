"""Inputs that used to be accepted silently: float / complex values, repeated images, junk rows."""
import json

import numpy as np
import pytest

from cion.pretrain.data import AnnotationError, read_annotations
from reidzoo.evaluation import EvaluationInputError, evaluate
from test_evaluation import random_set


def tool_main(*args):
    from reidzoo.cli import main
    return main(["evaluate", *map(str, args)])


def save(path, **arrays):
    np.savez(path, **arrays)
    return path


def arrays_of(data):
    return dict(zip(("qf", "gf", "q_pids", "g_pids", "q_camids", "g_camids"), data))


@pytest.mark.parametrize("key", ["q_pids", "g_camids"])
def test_float_ids_are_refused_even_when_whole(key):
    d = arrays_of(random_set(30, nq=10, ng=40))
    d[key] = d[key].astype(np.float32)           # 16777217 would silently become 16777216
    with pytest.raises(EvaluationInputError, match=f"{key} must hold integers.*int64"):
        evaluate(**d)


def test_complex_features_are_refused(tmp_path, capsys):
    d = arrays_of(random_set(31, nq=10, ng=40))
    d["gf"] = d["gf"] + 1j * d["gf"]
    with pytest.raises(EvaluationInputError, match="complex"):
        evaluate(**d)
    assert tool_main("--features", save(tmp_path / "c.npz", **d)) == 2
    assert "gallery features are complex" in capsys.readouterr().err


def with_paths(seed=32, nq=10, ng=40):
    d = arrays_of(random_set(seed, nq=nq, ng=ng))
    d["q_paths"] = np.array([f"query/{i:04d}.jpg" for i in range(nq)])
    d["g_paths"] = np.array([f"bounding_box_test/{i:04d}.jpg" for i in range(ng)])
    return d


def test_features_file_with_an_image_twice_or_under_two_ids(tmp_path, capsys):
    d = with_paths()
    assert tool_main("--features", save(tmp_path / "ok.npz", **d)) == 0
    capsys.readouterr()
    d["g_paths"][7] = d["g_paths"][3]
    d["g_pids"][7] = d["g_pids"][3]
    assert tool_main("--features", save(tmp_path / "twice.npz", **d)) == 2
    err = capsys.readouterr().err
    assert "bounding_box_test/0003.jpg 2 times (rows [3, 7])" in err and "Traceback" not in err
    d["g_pids"][7] = d["g_pids"][3] + 1
    assert tool_main("--features", save(tmp_path / "two_ids.npz", **d)) == 2
    assert f"under 2 different ids [{d['g_pids'][3]}, {d['g_pids'][3] + 1}]" in capsys.readouterr().err


def test_junk_gallery_rows_are_ignored_and_reported(tmp_path):
    d = with_paths(33, nq=30, ng=200)
    clean = evaluate(**{k: v for k, v in d.items() if "paths" not in k})
    junk = dict(d)
    # ten junk rows copied from queries: as negatives they would outrank every positive
    junk["gf"] = np.concatenate([d["gf"], d["qf"][:10]])
    junk["g_pids"] = np.concatenate([d["g_pids"], np.full(10, -1)])
    junk["g_camids"] = np.concatenate([d["g_camids"], (d["q_camids"][:10] + 1) % 4])
    junk["g_paths"] = np.concatenate([d["g_paths"], [f"bounding_box_test/j{i}.jpg" for i in range(10)]])
    f = save(tmp_path / "junk.npz", **junk)
    with pytest.warns(UserWarning, match="ignoring 10 gallery row"):
        assert tool_main("--features", f, "--out", tmp_path / "out") == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["mAP"] == pytest.approx(clean["mAP"], abs=1e-12)
    assert res["junk"]["ignored_gallery_rows"] == 10 and "Market-1501" in res["junk"]["rule"]
    assert res["num_gallery"] == 200 and res["num_gallery_in_file"] == 210
    with pytest.warns(UserWarning, match="kept as an ordinary id"):
        assert tool_main("--features", f, "--out", tmp_path / "kept", "--keep-junk") == 0
    kept = json.loads((tmp_path / "kept" / "results.json").read_text())
    assert kept["mAP"] < res["mAP"] and kept["junk"]["ignored_gallery_rows"] == 0


def write_annotations(tmp_path, items):
    p = tmp_path / "annotations.json"
    p.write_text(json.dumps([{"file_path": f, "id": i} for f, i in items]))
    return p


@pytest.mark.parametrize("items, message", [
    ([("a.jpg", 0), ("b.jpg", 1.0)], "entry 1 .* integer id"),
    ([("a.jpg", 0), ("b.jpg", 2.7)], "entry 1 .* integer id"),
    ([("a.jpg", True)], "entry 0 .* integer id"),
    ([("a.jpg", 0), ("b.jpg", 1), ("a.jpg", 0)], r"a.jpg is listed twice \(id 0\), entries 0 and 2"),
    ([("x/a.jpg", 0), ("x/./a.jpg", 3)], r"listed under two ids \(0 and 3\)"),
])
def test_annotations_with_float_ids_or_repeated_images(tmp_path, items, message):
    with pytest.raises(AnnotationError, match=message):
        read_annotations(write_annotations(tmp_path, items))


def test_clean_annotations_still_read(tmp_path):
    assert read_annotations(write_annotations(tmp_path, [("a.jpg", 0), ("b.jpg", 0), ("c.jpg", 5)])) == [
        ("a.jpg", 0), ("b.jpg", 0), ("c.jpg", 5)]


def test_constant_features_file_scores_the_stable_argsort_not_100(tmp_path):
    from test_evaluation import reference_metrics
    d = arrays_of(random_set(34, nq=40, ng=300))
    d["qf"], d["gf"] = np.ones_like(d["qf"]), np.ones_like(d["gf"])
    ref = reference_metrics(**d)
    with pytest.warns(UserWarning, match="Most distances tie"):
        assert tool_main("--features", save(tmp_path / "const.npz", **d), "--out", tmp_path / "out") == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["mAP"] == pytest.approx(ref["mAP"], abs=1e-9) and res["rank1"] == pytest.approx(ref["cmc"][0], abs=1e-9)
    assert res["mAP"] < 0.2 and res["num_tied_pairs"] == res["num_negative_pairs"] > 0
    assert "gallery index" in res["tie_rule"]
