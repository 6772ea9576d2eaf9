"""The synthetic re-ID world: determinism, Market-format output, videos with consistent ground truth."""
import json
import re
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest

from dataclasses import replace

from reidzoo.data.synthetic import (make_camera, make_identity, make_market_like, make_videos, plan_videos,
                                    render_background, render_frames, render_person)
from reidzoo.data.synthetic.difficulty import PRESETS, Difficulty, harden_camera
from reidzoo.data.synthetic.market import render_crop

MARKET_NAME = re.compile(r"^(-1|\d{4})_c([1-6])s(\d)_(\d{6})_(\d{2})\.jpg$")


def _tree_bytes(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def market(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("syn") / "market"
    make_market_like(root, n_ids_train=12, n_ids_test=10, cameras=4, images_per_id=6, seed=3, progress=False)
    return root


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("syn") / "videos"
    make_videos(root, n_videos=3, people_per_video=(3, 4), frames=60, seed=5, width=320, height=192, progress=False)
    return root


def _read_gt(path: Path) -> np.ndarray:
    rows = np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2)
    assert rows.shape[1] == 10
    return rows


# ---- identities and rendering -------------------------------------------------------------

def test_identities_are_a_function_of_seed_and_index():
    assert make_identity(7, 42) == make_identity(7, 42)
    assert make_identity(7, 42) != make_identity(8, 42)
    assert make_identity(7, 42) != make_identity(7, 43)


def test_lookalike_groups_share_colours_but_differ_in_details():
    a, b, c = (make_identity(0, i) for i in range(3))  # one look-alike group
    assert a.group == b.group == c.group
    for x, y in ((a, b), (a, c)):
        assert np.abs(np.subtract(x.upper, y.upper)).max() <= 24
        assert np.abs(np.subtract(x.lower, y.lower)).max() <= 24
    details = lambda p: (p.upper_pattern, p.backpack is None, p.bag is None, p.hat is None, p.hair_style,
                         p.long_sleeves, p.lower_style, p.shoes)
    assert len({details(p) for p in (a, b, c)}) == 3


def test_render_person_is_deterministic_and_view_dependent():
    p = make_identity(1, 5)
    s1, s2 = render_person(p, 120, "side", 0.7, -1), render_person(p, 120, "side", 0.7, -1)
    assert np.array_equal(s1.image, s2.image) and np.array_equal(s1.alpha, s2.alpha)
    assert s1.alpha.shape[0] == 120 and s1.box[3] >= 110
    front, back = render_person(p, 120, "front"), render_person(p, 120, "back")
    assert not np.array_equal(front.image, back.image)
    # premultiplied colour never exceeds its coverage
    assert (s1.image.max(axis=2) <= s1.alpha).all()
    with pytest.raises(ValueError, match="view"):
        render_person(p, 120, "above")


# ---- Market-style benchmark ---------------------------------------------------------------

def _parse(folder: Path):
    out = []
    for f in sorted(folder.iterdir()):
        m = MARKET_NAME.match(f.name)
        assert m, f"not a Market-1501 file name: {f.name}"
        out.append((int(m.group(1)), int(m.group(2)), f))
    return out


def test_market_layout_follows_market1501_rules(market):
    train, gallery, query = (_parse(market / d) for d in ("bounding_box_train", "bounding_box_test", "query"))
    meta = json.loads((market / "meta.json").read_text())
    assert len(train) == 12 * 6 and len(query) + sum(p > 0 for p, _, _ in gallery) == 10 * 6
    train_ids = {p for p, _, _ in train}
    test_ids = {p for p, _, _ in query}
    assert len(train_ids) == 12 and len(test_ids) == 10 and not train_ids & test_ids
    assert -1 not in train_ids and 0 not in train_ids
    assert sum(p == -1 for p, _, _ in gallery) == meta["n_junk"] > 0
    assert sum(p == 0 for p, _, _ in gallery) == meta["n_distractors"] > 0
    # one query per identity and camera, each with a same-identity gallery image in another camera
    q_pairs = [(p, c) for p, c, _ in query]
    assert len(q_pairs) == len(set(q_pairs))
    g_pairs = {(p, c) for p, c, _ in gallery}
    for p, c in q_pairs:
        assert any(gp == p and gc != c for gp, gc in g_pairs)
    # every identity is seen by at least two cameras
    cams = defaultdict(set)
    for p, c, _ in train + query + gallery:
        cams[p].add(c)
    assert all(len(cams[p]) >= 2 for p in train_ids | test_ids)
    img = cv2.imread(str(train[0][2]))
    assert img.shape == (128, 64, 3)


def test_market_read_back_by_the_project_reader(market):
    from reidzoo.data import Market1501
    ds = Market1501(market)
    files = {d: _parse(market / d) for d in ("bounding_box_train", "bounding_box_test", "query")}
    assert sorted((Path(p).name, pid, c) for p, pid, c in ds.train) == \
        sorted((f.name, p, c - 1) for p, c, f in files["bounding_box_train"])
    assert sorted((Path(p).name, pid, c) for p, pid, c in ds.gallery) == \
        sorted((f.name, p, c - 1) for p, c, f in files["bounding_box_test"] if p != -1)
    assert len(ds.query) == len(files["query"])
    assert {pid for _, pid, _ in ds.gallery} >= {0}


def test_market_is_byte_identical_for_a_seed(market, tmp_path):
    again = tmp_path / "again"
    make_market_like(again, n_ids_train=12, n_ids_test=10, cameras=4, images_per_id=6, seed=3, progress=False)
    assert _tree_bytes(again) == _tree_bytes(market)
    other = tmp_path / "other"
    make_market_like(other, n_ids_train=12, n_ids_test=10, cameras=4, images_per_id=6, seed=4, progress=False)
    assert _tree_bytes(other) != _tree_bytes(market)


def test_hard_preset_is_deterministic_and_harder_than_default(tmp_path):
    args = dict(n_ids_train=4, n_ids_test=3, cameras=3, images_per_id=4, seed=2, progress=False)
    a, b, d = (make_market_like(tmp_path / n, difficulty=k, **args) for n, k in
               (("a", "hard"), ("b", "hard"), ("d", "default")))
    assert _tree_bytes(a) == _tree_bytes(b)
    assert _tree_bytes(a) != _tree_bytes(d)
    assert json.loads((a / "meta.json").read_text())["difficulty"] == PRESETS["hard"].to_dict()
    assert json.loads((d / "meta.json").read_text())["difficulty"] == Difficulty().to_dict()


def test_lookalike_option_grows_groups_and_shares_patterns():
    assert make_identity(0, 4, 3, 0.0) == make_identity(0, 4)  # the default world is unchanged
    plain = [make_identity(0, i, 6) for i in range(6)]
    alike = [make_identity(0, i, 6, 1.0) for i in range(6)]
    assert len({p.group for p in alike}) == 1
    assert len({p.upper_pattern for p in plain}) > 1
    assert len({(p.upper_pattern, p.upper_accent, p.pattern_period) for p in alike}) == 1
    # what still tells them apart is untouched
    assert [(p.hair_style, p.backpack, p.shoes, p.upper) for p in alike] == \
        [(p.hair_style, p.backpack, p.shoes, p.upper) for p in plain]


def test_camera_shifts_and_occlusion_are_applied():
    cam = make_camera(1, 2)
    assert harden_camera(cam, Difficulty()) is cam
    hard = harden_camera(cam, PRESETS["hard"])
    s = PRESETS["hard"].camera_shift
    assert hard.occlusion == PRESETS["hard"].occlusion and hard.blur == PRESETS["hard"].blur
    assert np.allclose(np.subtract(hard.cast, 1), s * np.subtract(cam.cast, 1))
    assert max(hard.views) > max(cam.views) and sum(hard.views) == pytest.approx(1.0)
    scene = render_background(cam, 360, 640)
    person = make_identity(1, 7)

    def crop(occlusion: float, seed: int) -> np.ndarray:
        data = render_crop(person, replace(cam, occlusion=occlusion), scene, np.random.default_rng(seed), "front",
                           0.0, 1, 1)
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)

    assert np.array_equal(crop(0.0, 5), crop(0.0, 5))
    # the same draws up to the occlusion test: an occluder changes a large part of the crop
    changed = [(np.abs(crop(1.0, k).astype(int) - crop(0.0, k)).max(axis=2) > 40).mean() for k in range(6)]
    assert min(changed) > 0.05, changed


# ---- videos ---------------------------------------------------------------------------------

def test_video_layout_frame_count_and_gt(videos):
    meta = json.loads((videos / "meta.json").read_text())
    ids = json.loads((videos / "identities.json").read_text())
    assert sorted(ids) == ["vid000", "vid001", "vid002"] == meta["videos"]
    for name in ids:
        cap = cv2.VideoCapture(str(videos / "videos" / f"{name}.avi"))
        assert cap.isOpened()
        n = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            assert frame.shape == (192, 320, 3)
            n += 1
        assert n == 60
        gt = _read_gt(videos / "gt" / name / "gt.txt")
        assert (gt[:, 6] == 1).all() and (gt[:, 7:] == -1).all()
        f, tid, x, y, w, h = gt[:, :6].T
        assert f.min() >= 1 and f.max() <= 60
        assert (x >= 0).all() and (y >= 0).all() and (w > 0).all() and (h > 0).all()
        assert (x + w <= 320).all() and (y + h <= 192).all()
        assert sorted(set(tid.tolist())) == sorted(int(t) for t in ids[name])
        for t in set(tid.tolist()):
            frames = np.sort(f[tid == t])
            assert (np.diff(frames) == 1).all(), f"{name} track {t} has gaps: {frames}"
        assert len(np.unique(gt[:, :2], axis=0)) == len(gt)  # one row per (frame, track)


def test_global_identities_recur_across_videos(videos):
    ids = json.loads((videos / "identities.json").read_text())
    seen = defaultdict(set)
    for name, tracks in ids.items():
        assert len(set(tracks.values())) == len(tracks)  # a person is one track per video
        for g in tracks.values():
            seen[g].add(name)
    assert max(len(v) for v in seen.values()) >= 2


def test_gt_boxes_cover_the_drawn_people():
    plan = plan_videos(1, 3, 40, seed=2, width=256, height=160)[0]
    frames = list(render_frames(plan, seed=2))
    assert len(frames) == 40
    # pixels inside a person's box differ from the empty scene; pixels far from all boxes mostly do not
    from reidzoo.data.synthetic import render_background
    from reidzoo.data.synthetic.cameras import light
    empty = light(render_background(plan.camera, 160, 256), plan.camera).astype(np.int16)
    for img, rows in frames[::8]:
        for tid, (x, y, w, h), frac in rows:
            if frac > 0.9 and w * h > 200:
                diff = np.abs(img[y:y + h, x:x + w].astype(np.int16) - empty[y:y + h, x:x + w]).max(axis=2)
                assert (diff > 40).mean() > 0.15


def test_videos_are_byte_identical_for_a_seed(videos, tmp_path):
    again = tmp_path / "again"
    make_videos(again, n_videos=3, people_per_video=(3, 4), frames=60, seed=5, width=320, height=192, progress=False)
    assert _tree_bytes(again) == _tree_bytes(videos)


# ---- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(people_per_video=0), "people_per_video"),
    (dict(people_per_video=(3, 2)), "people_per_video"),
    (dict(people_per_video=5, n_identities=3), "n_identities"),
    (dict(n_videos=0), "n_videos"),
    (dict(frames=-5), "frames"),
    (dict(width=-640), "width"),
    (dict(width=321), "even"),
    (dict(seed=-1), "seed"),
])
def test_bad_video_parameters_write_nothing(tmp_path, kwargs, message):
    args = dict(n_videos=2, people_per_video=2, frames=10, seed=0, progress=False)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        make_videos(tmp_path / "out", **args)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_ids_train=0), "n_ids_train"),
    (dict(n_ids_test=-3), "n_ids_test"),
    (dict(cameras=7), "cameras"),
    (dict(cameras=1), "cameras"),
    (dict(images_per_id=3), "images_per_id"),
    (dict(n_junk=-1), "n_junk"),
    (dict(n_ids_train=9000, n_ids_test=1000), "9998"),
    (dict(seed=1.5), "seed"),
    (dict(difficulty="extreme"), "difficulty"),
])
def test_bad_market_parameters_write_nothing(tmp_path, kwargs, message):
    args = dict(n_ids_train=3, n_ids_test=3, cameras=3, images_per_id=4, seed=0, progress=False)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        make_market_like(tmp_path / "out", **args)
    assert list(tmp_path.iterdir()) == []


def test_existing_data_is_never_overwritten_by_default(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="overwrite"):
        make_market_like(out, 2, 2, 2, 4, seed=0, progress=False)
    assert [p.name for p in out.iterdir()] == ["precious.txt"]
    make_market_like(out, 2, 2, 2, 4, seed=0, overwrite=True, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["bounding_box_test", "bounding_box_train", "meta.json", "query"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folders left behind


def test_cli_help_and_errors(tmp_path, capsys):
    from reidzoo.cli import main
    with pytest.raises(SystemExit) as e:
        main(["synthetic", "videos", "--help"])
    assert e.value.code == 0 and "--people" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:   # a usage error, before anything is generated
        main(["synthetic", "market", "--out", tmp_path / "m", "--cameras", "9"])
    assert e.value.code == 2 and "argument --cameras: must be <= 6, got 9" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
    assert main(["synthetic", "videos", "--out", tmp_path / "v", "--videos", "2", "--people", "2", "--frames", "5",
                 "--width", "160", "--height", "96"]) == 0
    assert (tmp_path / "v" / "gt" / "vid001" / "gt.txt").exists()
