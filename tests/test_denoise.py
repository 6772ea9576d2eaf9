"""cion.denoise: each level on hand-built feature sets with known answers, calibration, the tool, bad input."""
import json

import numpy as np
import pytest

from cion.denoise import (DenoiseInputError, RoundConfig, build_corpus, cluster_scores, geometry, level1, level2,
                          level3, run_round)
from cion.denoise.calibrate import calibrate_distance, calibrate_radius
from cion.denoise.levels import video_windows
from cion.denoise.synthetic_features import make_feature_corpus

from cion.cli import main as cion


def denoise_cli(argv) -> int:
    """`cion denoise ARGV...` in this process; returns the exit status."""
    return cion(["denoise", *argv])


D = 32


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(D)
    return v / np.linalg.norm(v)


def around(center: np.ndarray, n: int, spread: float, seed: int) -> np.ndarray:
    """n unit vectors near `center` (cosine distance about spread**2 / 2)."""
    x = center + spread * np.random.default_rng(seed).standard_normal((n, D)) / np.sqrt(D)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def mix(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """A direction between a and b (t=0: a, t=1: b)."""
    v = (1 - t) * a + t * b
    return v / np.linalg.norm(v)


def corpus_of(parts, frames=True):
    """parts: list of (video, tracklet, features, first_frame)."""
    feats, vid, tr, fr, fp = [], [], [], [], []
    for v, t, x, f0 in parts:
        feats.append(x)
        vid += [v] * len(x)
        tr += [t] * len(x)
        fr += list(range(f0, f0 + len(x)))
        fp += [f"{v}/{t}_{i}.jpg" for i in range(len(x))]
    return build_corpus(np.concatenate(feats), np.array(vid), np.array(tr), np.array(fp),
                        frame=np.array(fr) if frames else None)


def majority(labels, corpus, t) -> int:
    lab = labels[(corpus.tracklet == t) & (labels >= 0)]
    return int(np.bincount(lab).argmax()) if len(lab) else -1


def same(labels, corpus, a, b) -> bool:
    """Do most crops of tracklet a and of tracklet b (global codes) end up with one label?"""
    la, lb = majority(labels, corpus, a), majority(labels, corpus, b)
    return la >= 0 and la == lb


# ---------------------------------------------------------------- noise geometry

def test_geometry_matches_brute_force():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, D)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels = rng.integers(-1, 7, 300)
    geo = geometry(x, labels, 7)
    for g in range(7):
        m = x[labels == g]
        c = m.sum(0) / np.linalg.norm(m.sum(0))
        np.testing.assert_allclose(geo.centroids[g], c, atol=1e-5)
        assert geo.counts[g] == len(m)
        assert geo.radii[g] == pytest.approx(float((1 - m @ c).max()), abs=1e-5)
    assert np.isnan(geo.distances[labels < 0]).all()


# ---------------------------------------------------------------- level 1

def test_level1_drops_the_stray_sample_only():
    a, b = unit(1), unit(2)
    clean = around(a, 12, 0.3, seed=3)
    stray = around(b, 1, 0.1, seed=4)
    c = corpus_of([("v0", 0, np.concatenate([clean[:6], stray, clean[6:]]), 0)])
    res = level1(c, c.tracklet_labels(), radius=0.1)
    assert len(res.dropped) == 1
    assert np.allclose(c.features[res.dropped[0]], stray[0], atol=1e-6)
    geo = geometry(c.features, res.labels, 1)
    assert geo.radii[0] <= 0.1 and geo.counts[0] == 12


def test_level1_single_image_tracklet_is_kept():
    c = corpus_of([("v0", 0, around(unit(1), 1, 0.0, 0), 0), ("v0", 1, around(unit(2), 5, 0.2, 1), 5)])
    res = level1(c, c.tracklet_labels(), radius=0.05)
    assert res.labels[c.tracklet == 0][0] == 0  # radius 0 satisfies any r


# ---------------------------------------------------------------- level 2

def test_level2_merges_fragments_of_one_person_and_reassigns_a_stray():
    a, b = unit(1), unit(2)
    frag1, frag2 = around(a, 10, 0.3, 10), around(a, 10, 0.3, 11)
    other = around(b, 10, 0.3, 12)
    # tracklet 0 holds one crop of the person of tracklet 2: level 1 drops it, level 2 gives it back.
    t0 = np.concatenate([frag1, around(b, 1, 0.3, 13)])
    c = corpus_of([("v0", 0, t0, 0), ("v0", 1, frag2, 100), ("v0", 2, other, 50)])
    l1 = level1(c, c.tracklet_labels(), radius=0.15)
    assert len(l1.dropped) == 1
    l2 = level2(c, l1.labels, l1.dropped, radius=0.15, distance=0.3, merge_radius=0.2)
    assert same(l2.labels, c, 0, 1)
    assert not same(l2.labels, c, 0, 2)
    assert l2.merges == 1
    assert list(l2.reassigned) == list(l1.dropped)
    assert l2.labels[l1.dropped[0]] == l2.labels[c.tracklet == 2][0]


def test_level2_keeps_look_alikes_and_co_occurring_tracklets_apart():
    a = unit(1)
    near = mix(a, unit(5), 0.35)  # a look-alike: centroid distance just above d
    d_ab = 1 - float(a @ near)
    c = corpus_of([("v0", 0, around(a, 8, 0.2, 1), 0), ("v0", 1, around(near, 8, 0.2, 2), 100),
                   # two people of one look in the same frames: never the same person
                   ("v0", 2, around(unit(9), 8, 0.2, 3), 200), ("v0", 3, around(unit(9), 8, 0.2, 4), 200)])
    lab = c.tracklet_labels()
    res = level2(c, lab, np.zeros(0, np.int64), radius=0.2, distance=d_ab * 0.9, merge_radius=1.0)
    assert not same(res.labels, c, 0, 1)
    assert not same(res.labels, c, 2, 3)
    assert res.info["blocked_merges"]["cooccur"] == 1
    # without frames the co-occurrence is unknown and the identical pair merges
    c2 = corpus_of([("v0", 2, around(unit(9), 8, 0.2, 3), 200), ("v0", 3, around(unit(9), 8, 0.2, 4), 200)],
                   frames=False)
    res2 = level2(c2, c2.tracklet_labels(), np.zeros(0, np.int64), radius=0.2, distance=0.1, merge_radius=1.0)
    assert same(res2.labels, c2, 0, 1)


def test_level2_does_not_chain():
    a, b = unit(1), unit(2)
    # A - B - C on a line: A~B and B~C are within d, A and C are not.
    pa, pb, pc = a, mix(a, b, 0.5), b
    d = 1 - float(pa @ pc)  # A-C distance
    d_ab = 1 - float(pa @ pb)
    assert d_ab < 0.6 * d
    c = corpus_of([("v0", 0, around(pa, 6, 0.05, 1), 0), ("v0", 1, around(pb, 6, 0.05, 2), 10),
                   ("v0", 2, around(pc, 6, 0.05, 3), 20)])
    res = level2(c, c.tracklet_labels(), np.zeros(0, np.int64), radius=1.0, distance=0.6 * d + d_ab * 0.4,
                 merge_radius=2.0)
    groups = len(np.unique(res.labels))
    assert groups == 2 and res.merges == 1
    assert not same(res.labels, c, 0, 2)
    assert res.info["blocked_merges"]["linkage"] >= 1


def test_level2_merge_refused_when_radius_would_break():
    a = unit(1)
    c = corpus_of([("v0", 0, around(a, 6, 0.3, 1), 0), ("v0", 1, around(mix(a, unit(2), 0.2), 6, 0.3, 2), 10)])
    lab = c.tracklet_labels()
    geo = geometry(c.features, lab, 2)
    tight = float(geo.radii.max()) + 1e-4
    res = level2(c, lab, np.zeros(0, np.int64), radius=tight, distance=1.0, merge_radius=tight)
    assert res.merges == 0 and res.info["blocked_merges"]["radius"] == 1
    res = level2(c, lab, np.zeros(0, np.int64), radius=tight, distance=1.0, merge_radius=1.0)
    assert res.merges == 1


# ---------------------------------------------------------------- level 3

def test_level3_merges_one_person_across_videos_not_look_alikes_nor_chains():
    p, q = unit(1), unit(2)
    line = [mix(p, q, t) for t in (0.0, 0.5, 1.0)]
    d_step = 1 - float(line[0] @ line[1])
    d_far = 1 - float(line[0] @ line[2])
    r = unit(7)
    d = 0.5 * (d_step + d_far)
    look_alike = mix(r, unit(8), 0.7)
    assert d < 1 - float(r @ look_alike) < 1.3 * d  # just beyond d
    parts = [("v0", 0, around(line[0], 6, 0.05, 1), 0), ("v1", 0, around(line[1], 6, 0.05, 2), 0),
             ("v2", 0, around(line[2], 6, 0.05, 3), 0),
             ("v3", 0, around(r, 6, 0.05, 4), 0), ("v4", 0, around(r, 6, 0.05, 5), 0),
             ("v5", 0, around(look_alike, 6, 0.05, 6), 0)]
    c = corpus_of(parts)
    res = level3(c, c.tracklet_labels(), radius=2.0, distance=d, window=8)
    assert same(res.labels, c, 3, 4)       # one person in two videos
    assert not same(res.labels, c, 3, 5)   # a look-alike
    chain = [same(res.labels, c, 0, 1), same(res.labels, c, 1, 2), same(res.labels, c, 0, 2)]
    assert not chain[2] and sum(chain) == 1


def test_level3_one_identity_per_video_and_window_reach():
    p = unit(1)
    parts = [("v0", 0, around(p, 5, 0.05, 1), 0), ("v0", 1, around(p, 5, 0.05, 2), 0),
             ("v1", 0, around(p, 5, 0.05, 3), 0)]
    c = corpus_of(parts)
    res = level3(c, c.tracklet_labels(), radius=2.0, distance=0.5, window=8)
    assert res.merges == 1 and res.info["blocked_merges"]["same_video"] == 1
    # videos farther apart than the window never meet
    parts = [(f"v{i}", 0, around(p if i in (0, 9) else unit(100 + i), 5, 0.05, i), 0) for i in range(10)]
    c = corpus_of(parts)
    assert level3(c, c.tracklet_labels(), 2.0, 0.5, window=4, stride=2).merges == 0
    assert level3(c, c.tracklet_labels(), 2.0, 0.5, window=10).merges == 1


def test_video_windows_cover_every_close_pair():
    for n, w, s in [(1, 4, 2), (10, 4, 2), (11, 4, 2), (100, 64, 32), (7, 3, 1)]:
        wins = video_windows(n, w, s)
        assert wins[0][0] == 0 and wins[-1][1] == n
        for a in range(n):
            for b in range(a, min(n, a + w - s + 1)):
                assert any(lo <= a and b < hi for lo, hi in wins), (n, w, s, a, b)


# ---------------------------------------------------------------- metrics, calibration, whole round

def test_cluster_scores_by_hand():
    gt = np.array([0, 0, 0, 1, 1, -1])
    pred = np.array([0, 0, 1, 1, 1, 1])
    m = cluster_scores(pred, gt)
    # predicted pairs: {01} + {23,24,25,34,35,45} = 7, true among them: 01, 34 -> P = 2/7; true pairs 3+1 = 4
    assert m["pair_precision"] == pytest.approx(2 / 7)
    assert m["pair_recall"] == pytest.approx(2 / 4)
    assert cluster_scores(gt, gt)["pair_f1"] == 1.0 and cluster_scores(gt, gt)["bcubed_f1"] == 1.0


@pytest.fixture(scope="module")
def synth():
    s = make_feature_corpus(n_crops=12000, n_videos=24, seed=1)
    c = build_corpus(s["features"], s["video"], s["tracklet"], s["file_path"], s["frame"],
                     extra={"identity": s["identity"]})
    return s, c


def test_calibration_separates_junk_and_people(synth):
    _, c = synth
    gt = c.extra["identity"]
    raw = c.tracklet_labels()
    r = calibrate_radius(c, raw).radius
    geo = geometry(c.features, raw)
    junk, clean = geo.distances[gt < 0], geo.distances[gt >= 0]
    assert np.median(junk) > r > np.percentile(clean, 90)
    d = calibrate_distance(c, raw).distance
    assert 0.0 < d < 1.0


def test_round_raises_precision_then_recall(synth):
    _, c = synth
    res = run_round(c, RoundConfig(), log=None, progress=False)
    gt = c.extra["identity"]
    q = {k: cluster_scores(v, gt) for k, v in res.labels.items()}
    assert q["level1"]["pair_precision"] > q["raw"]["pair_precision"]
    assert q["level3"]["pair_precision"] >= 0.95
    assert q["level3"]["pair_recall"] > 2 * q["raw"]["pair_recall"]
    assert q["level2"]["pair_recall"] > q["level1"]["pair_recall"]


# ---------------------------------------------------------------- the tool, features-only mode

def save_npz(path, s, **override):
    arrays = {k: v for k, v in s.items() if k != "identity"}
    arrays.update(override)
    np.savez(path, **arrays)
    return path


def test_tool_features_mode_end_to_end(tmp_path, synth, capsys):
    s, _ = synth
    feats = s["features"].copy()
    feats[5] = np.nan           # an undecodable crop
    feats[17] = 0.0             # and an all-zero feature
    npz = save_npz(tmp_path / "f.npz", s, features=feats)
    out = tmp_path / "out"
    assert denoise_cli(["--features", str(npz), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "calibrated r=" in printed and "calibrated d=" in printed and "calibrated r_merge=" in printed
    ann = json.loads((out / "annotations.json").read_text())
    ids = [a["id"] for a in ann]
    assert ids == sorted(ids) and set(ids) == set(range(max(ids) + 1))
    dropped = [json.loads(l) for l in (out / "dropped.jsonl").read_text().splitlines()]
    assert len(ann) + len(dropped) == len(feats)
    assert {a["file_path"] for a in ann}.isdisjoint(d["file_path"] for d in dropped)
    reasons = {d["file_path"]: d["reason"] for d in dropped}
    assert reasons[str(s["file_path"][5])] == "invalid_feature" == reasons[str(s["file_path"][17])]
    rep = json.loads((out / "denoise_report.json").read_text())
    r0 = rep["rounds"][0]
    assert r0["input"]["invalid_features"] == 2
    assert [lv["level"] for lv in r0["levels"]] == ["level1", "level2", "level3"]
    for lv in r0["levels"]:
        assert {"images_before", "images_after", "dropped", "reassigned", "merges", "identities_before",
                "identities_after", "before", "after"} <= set(lv)
        assert "radius" in lv["after"] and "nearest_centroid_distance" in lv["after"]
    assert set(r0["thresholds"]) == {"radius", "distance", "merge_radius"}
    assert rep["output"]["identities"] == max(ids) + 1
    for png in ("radii.png", "centroid_distances.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a second run without --overwrite refuses and leaves the first output alone
    before = (out / "annotations.json").read_bytes()
    assert denoise_cli(["--features", str(npz), "--out", str(out), "--no-progress"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "annotations.json").read_bytes() == before


def test_tool_given_thresholds_and_rounds(tmp_path, synth):
    s, _ = synth
    npz = save_npz(tmp_path / "f.npz", s)
    out = tmp_path / "out"
    assert denoise_cli(["--features", str(npz), "--out", str(out), "--rounds", "2", "--radius", "0.3", "0.25",
                              "--distance", "0.45", "--merge-radius", "0.35", "--no-progress"]) == 0
    rep = json.loads((out / "denoise_report.json").read_text())
    assert [r["thresholds"]["radius"] for r in rep["rounds"]] == [0.3, 0.25]
    assert rep["rounds"][1]["calibration"]["why"] == {}


def test_bad_feature_files_say_what_is_wrong(tmp_path, capsys):
    np.savez(tmp_path / "a.npz", features=np.zeros((3, 4), np.float32), video=np.array(["a"] * 3))
    assert denoise_cli(["--features", str(tmp_path / "a.npz"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "tracklet" in err and "file_path" in err
    np.savez(tmp_path / "b.npz", features=np.zeros((3, 4), np.float32), video=np.array(["a"] * 2),
             tracklet=np.arange(3), file_path=np.array(["x", "y", "z"]))
    assert denoise_cli(["--features", str(tmp_path / "b.npz"), "--out", str(tmp_path / "o")]) == 2
    assert "one entry per feature row" in capsys.readouterr().err
    assert not (tmp_path / "o" / "annotations.json").exists()
    assert denoise_cli(["--out", tmp_path / "o"]) == 2  # neither input
    assert "exactly one" in capsys.readouterr().err


def test_degenerate_corpus_one_tracklet_videos_and_all_dropped(tmp_path):
    a, b = unit(1), unit(2)
    # every video has a single tracklet; one tracklet is a single image; one identity is pure junk
    junk = np.stack([unit(50 + i) for i in range(4)]).astype(np.float32)
    c = corpus_of([("v0", 0, around(a, 6, 0.2, 1), 0), ("v1", 0, around(a, 6, 0.2, 2), 0),
                   ("v2", 0, around(b, 1, 0.0, 3), 0), ("v3", 0, junk, 0)])
    res = run_round(c, RoundConfig(radius=0.1, distance=0.3, merge_radius=0.2), log=None, progress=False)
    final = res.final
    assert same(final, c, 0, 1)                        # one person across two one-tracklet videos
    assert (final[c.tracklet == 3] >= 0).sum() == 1    # junk trimmed down to one survivor
    assert res.report["input"]["single_tracklet_videos"] == 4
    assert res.report["input"]["single_image_tracklets"] == 1
    from cion.denoise import finalize_labels
    reason = res.drop_reason.copy()
    labels = finalize_labels(final, reason, min_images=2)
    assert (labels[c.tracklet == 2] < 0).all() and reason[c.tracklet == 2][0] == "small_identity"


def test_outputs_are_all_or_nothing(tmp_path, synth, monkeypatch):
    from cion.denoise import report
    s, _ = synth
    npz = save_npz(tmp_path / "f.npz", s)

    def broken_plot(*a, **k):
        raise RuntimeError("disk full while plotting")

    monkeypatch.setattr(report, "_plot", broken_plot)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        denoise_cli(["--features", str(npz), "--out", str(out), "--no-progress"])
    assert list(out.iterdir()) == []  # no annotations without their report, no temp files left


# ---------------------------------------------------------------- mining-folder input problems

def test_mining_folder_problems_are_counted(tmp_path):
    import cv2

    from cion.denoise.inputs import read_tracklets
    root = tmp_path / "mined"
    (root / "crops").mkdir(parents=True)
    img = np.full((32, 16, 3), 128, np.uint8)
    lines = []
    for i in range(6):
        fp = f"crops/{i}.jpg"
        if i != 2:
            cv2.imwrite(str(root / fp), img)
        lines.append(json.dumps({"video": "v", "tracklet": i // 3, "frame": i, "bbox": [0, 0, 16, 32],
                                 "score": 1.0, "file_path": fp}))
    cv2.imwrite(str(root / "crops" / "stray.jpg"), img)
    lines.insert(3, "{not json")
    lines.append(lines[0])
    (root / "tracklets.jsonl").write_text("\n".join(lines) + "\n")
    tr = read_tracklets(root)
    assert len(tr.file_path) == 5
    assert tr.problems["missing_crops"] == {"count": 1, "examples": ["crops/2.jpg"]}
    assert tr.problems["unlisted_crops"]["examples"] == ["crops/stray.jpg"]
    assert tr.problems["bad_lines"]["count"] == 1 and tr.problems["duplicate_file_paths"]["count"] == 1
    with pytest.raises(DenoiseInputError, match="tracklets.jsonl"):
        read_tracklets(tmp_path)


# ---------------------------------------------------------------- end to end on a synthetic mining output

@pytest.fixture(scope="module")
def mined_world(tmp_path_factory):
    """Two synthetic videos, mined with ground-truth boxes as detections (fast and deterministic)."""
    from cion.mining.pipeline import MiningConfig, mine_videos
    from reidzoo.data.synthetic import gt_detections, make_videos
    tmp = tmp_path_factory.mktemp("denoise_world")
    from cion.mining.tracklets import FilterConfig
    world = make_videos(tmp / "world", n_videos=3, people_per_video=3, frames=80, seed=3, width=320, height=180,
                        n_identities=5, progress=False)
    mined = tmp / "mined"
    cfg = MiningConfig(detector="file", detections=str(gt_detections(world, tmp / "det")),
                       filters=FilterConfig(max_crops=12, min_height=24))  # people are small at 320x180
    mine_videos([world / "videos"], mined, cfg, progress=False)
    return world, mined


def test_tool_on_a_synthetic_mining_output(mined_world, tmp_path):
    import torch

    from cion.denoise.groundtruth import crop_identities
    from cion.denoise.inputs import read_tracklets
    torch.set_num_threads(1)
    world, mined = mined_world
    tr = read_tracklets(mined)
    assert len(tr.file_path) > 10 and not tr.problems
    gt = crop_identities(world, tr.video, tr.frame, tr.bbox)
    assert (gt >= 0).mean() > 0.8  # crops line up with the ground-truth boxes
    out = tmp_path / "out"
    args = [str(mined), "--model", "ghostnet_1_0", "--random-init", "--out", str(out), "--no-progress",
            "--batch-size", "16", "--min-images", "1"]
    assert denoise_cli(args) == 0
    ann = json.loads((out / "annotations.json").read_text())
    dropped = (out / "dropped.jsonl").read_text().splitlines()
    assert len(ann) + len(dropped) == len(tr.file_path)
    assert all((mined / a["file_path"]).is_file() for a in ann)  # paths relative to the mining folder
    rep = json.loads((out / "denoise_report.json").read_text())
    assert rep["input"]["mode"] == "tracklets" and rep["rounds"][0]["input"]["tracklets"] == len(set(
        zip(tr.video, tr.tracklet)))
    caches = list((out / "cache").glob("features-*.npz"))
    assert len(caches) == 1
    # a re-run reads the cached features instead of extracting again
    stamp = caches[0].stat().st_mtime_ns
    assert denoise_cli(args + ["--overwrite"]) == 0
    assert caches[0].stat().st_mtime_ns == stamp
    # a crop deleted after mining is reported and left out, not a crash
    victim = mined / tr.file_path[0]
    data = victim.read_bytes()
    victim.unlink()
    try:
        assert denoise_cli(args + ["--overwrite"]) == 0
        rep = json.loads((out / "denoise_report.json").read_text())
        assert rep["input"]["problems"]["missing_crops"]["examples"] == [str(tr.file_path[0])]
        assert caches[0].stat().st_mtime_ns == stamp  # the other crops still come from the cache
    finally:
        victim.write_bytes(data)


def test_rounds_can_re_extract_features_with_a_better_model():
    from cion.denoise import run_rounds
    s = make_feature_corpus(n_crops=3000, n_videos=8, seed=2)
    noisy = s["features"] + 3.0 * np.random.default_rng(0).standard_normal(s["features"].shape).astype(np.float32) / 16
    c = build_corpus(noisy, s["video"], s["tracklet"], s["file_path"], s["frame"], extra={"identity": s["identity"]})
    seen = []

    def better_model(k, prev_labels):
        seen.append((k, len(prev_labels), int((prev_labels >= 0).sum())))
        return s["features"][c.source_index]  # the "retrained" model: the clean features, in corpus row order

    res = run_rounds(c, [RoundConfig(), RoundConfig()], features_for_round=better_model, log=None, progress=False)
    assert seen == [(1, c.n, int((res[0].final >= 0).sum()))]
    gt = c.extra["identity"]
    f1 = [cluster_scores(r.final, gt)["pair_f1"] for r in res]
    assert f1[1] > f1[0] + 0.05
    assert res[1].thresholds["radius"] < res[0].thresholds["radius"]  # calibrated afresh on the new features
