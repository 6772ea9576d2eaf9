"""Readers on small Market-1501 / MSMT17 / folder trees with real names, list files and JPEGs."""
import os
import warnings

import cv2
import numpy as np
import pytest

from reidzoo.data import (MSMT17, DatasetLayoutError, FolderDataset, Market1501, build_dataset,
                          msmt_camid, parse_market_name)


def write_jpeg(path, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.random.default_rng(seed).integers(0, 255, (64, 32, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), img)


MARKET = {
    "bounding_box_train": ["0002_c1s1_000451_03.jpg", "0002_c2s1_000301_01.jpg", "0007_c3s3_077419_04.jpg",
                           "1500_c6s3_085567_02.jpg"],
    "bounding_box_test": ["0001_c1s1_001051_03.jpg", "0001_c5s1_001426_02.jpg", "0000_c3s1_005351_01.jpg",
                          "-1_c1s1_000401_01.jpg", "-1_c4s1_001401_03.jpg", "0003_c6s1_011451_01.jpg"],
    "query": ["0001_c2s1_000301_00.jpg", "0003_c1s1_001351_00.jpg"],
}


@pytest.fixture
def market_root(tmp_path):
    d = tmp_path / "data" / "Market-1501-v15.09.15"
    for i, (sub, names) in enumerate(MARKET.items()):
        for j, n in enumerate(names):
            write_jpeg(d / sub / n, 10 * i + j)
    (d / "bounding_box_test" / "Thumbs.db").write_bytes(b"\0")
    return tmp_path / "data"


def test_market_reader(market_root):
    with pytest.warns(UserWarning, match="differs from the published dataset"):
        ds = Market1501(market_root)
    assert len(ds.train) == 4 and len(ds.query) == 2
    assert len(ds.gallery) == 4                      # 2 junk dropped, distractor kept, Thumbs.db ignored
    pids = sorted(p for _, p, _ in ds.gallery)
    assert pids == [0, 1, 1, 3]
    path, pid, cam = [x for x in ds.query if x[1] == 1][0]
    assert (pid, cam) == (1, 1) and os.path.isfile(path) and path.endswith("0001_c2s1_000301_00.jpg")
    assert {c for _, _, c in ds.train} == {0, 1, 2, 5}    # c1..c6 -> 0..5
    assert cv2.imread(ds.train[0][0]) is not None


def test_market_counts_junk_and_misnamed_files(market_root):
    d = market_root / "Market-1501-v15.09.15"
    write_jpeg(d / "query" / "IMG_0001.jpg")
    write_jpeg(d / "query" / "0004-c2s1_000301_00.jpg")
    with pytest.warns(UserWarning, match=r"query/: skipped 2 image file\(s\) not named like") as rec:
        ds = Market1501(market_root, verify=False)
    assert "0004-c2s1_000301_00.jpg" in str(rec[0].message)
    assert ds.misnamed == {"query": ["0004-c2s1_000301_00.jpg", "IMG_0001.jpg"]}
    assert ds.junk == {"bounding_box_train": 0, "query": 0, "bounding_box_test": 2} and len(ds.query) == 2


def test_market_accepts_dataset_folder_env_and_relabel(market_root, monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = Market1501(market_root / "Market-1501-v15.09.15", relabel_train=True)
        monkeypatch.setenv("REIDZOO_DATA", str(market_root))
        from_env = Market1501()
    assert sorted({p for _, p, _ in direct.train}) == [0, 1, 2]
    assert from_env.query == direct.query
    assert Market1501(market_root / "Market-1501-v15.09.15", verify=False).summary().count("\n") == 3


def test_market_missing_folder_shows_layout(tmp_path):
    with pytest.raises(DatasetLayoutError, match="bounding_box_train") as e:
        Market1501(tmp_path / "nowhere")
    assert "Expected layout" in str(e.value) and "REIDZOO_DATA" in str(e.value)


def test_market_name_parsing():
    assert parse_market_name("0002_c1s1_000451_03.jpg") == (2, 0)
    assert parse_market_name("-1_c3s1_000451_03.jpg") == (-1, 2)
    assert parse_market_name("Thumbs.db") is None


def msmt_tree(root, version="MSMT17_V1"):
    train_dir, test_dir = ("train", "test") if version == "MSMT17_V1" else ("mask_train_v2", "mask_test_v2")
    d = root / version
    lists = {
        ("list_train.txt", train_dir): [("0000/0000_000_01_0303morning_0015_0.jpg", 0),
                                        ("0000/0000_001_05_0303morning_0036_1.jpg", 0),
                                        ("0001/0001_000_14_0303noon_0412_0.jpg", 1)],
        ("list_val.txt", train_dir): [("0002/0002_003_15_0303afternoon_1001_2.jpg", 2)],
        ("list_query.txt", test_dir): [("0000/0000_000_07_0303morning_1080_0.jpg", 0)],
        ("list_gallery.txt", test_dir): [("0000/0000_002_02_0303noon_0590_1.jpg", 0),
                                         ("0001/0001_000_07_0303afternoon_0100_0.jpg", 1)],
    }
    k = 0
    for (name, sub), rows in lists.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_text("".join(f"{p} {pid}\n" for p, pid in rows))
        for p, _ in rows:
            write_jpeg(d / sub / p, k)
            k += 1
    return d


@pytest.mark.parametrize("version", ["MSMT17_V1", "MSMT17_V2"])
def test_msmt_reader(tmp_path, version):
    msmt_tree(tmp_path, version)
    with pytest.warns(UserWarning, match="query: 1 images, expected 11659"):
        ds = MSMT17(tmp_path)
    assert len(ds.train) == 3 and len(ds.val) == 1   # list_val is not trained on, as in fast-reid / torchreid
    assert [c for _, _, c in ds.train] == [0, 4, 13]
    assert "val (unused)" in ds.summary()
    with pytest.warns(UserWarning, match="train: 4 images, expected 32621"):
        trainval = build_dataset("msmt17_trainval", tmp_path)
    assert [c for _, _, c in trainval.train] == [0, 4, 13, 14] and trainval.val == ds.val
    assert ds.query[0][1:] == (0, 6) and os.path.isfile(ds.query[0][0])
    assert {p for _, p, _ in ds.gallery} == {0, 1}
    assert all(os.path.isfile(p) for p, _, _ in ds.train + ds.gallery)
    assert msmt_camid("0000_000_01_0303morning_0015_0.jpg") == 0


def test_msmt_errors(tmp_path):
    with pytest.raises(DatasetLayoutError, match="list_query.txt"):
        MSMT17(tmp_path)
    d = msmt_tree(tmp_path)
    (d / "list_query.txt").write_text("0000/not_an_msmt_name.jpg\n")
    with pytest.raises(DatasetLayoutError, match="list_query.txt:1"):
        MSMT17(d)


def test_folder_dataset_lists_and_subfolders(tmp_path):
    lists = tmp_path / "mine"
    for i, split in enumerate(("query", "gallery")):
        write_jpeg(lists / "imgs" / f"{split}.jpg", i)
        (lists / f"{split}.txt").write_text(f"imgs/{split}.jpg 5 {i}\n")
    ds = FolderDataset(lists)
    assert ds.train == [] and ds.query[0][1:] == (5, 0) and ds.gallery[0][1:] == (5, 1)

    sub = tmp_path / "sub"
    for split in ("train", "query", "gallery"):
        write_jpeg(sub / split / "0012" / "0012_c3_f01.jpg")
    ds = build_dataset(str(sub))
    assert ds.query[0][1:] == (12, 2)
    with pytest.raises(DatasetLayoutError, match="no query images"):
        FolderDataset(tmp_path / "empty")
    with pytest.raises(ValueError, match="unknown dataset"):
        build_dataset("cuhk99")


@pytest.mark.parametrize("entry, escapes", [
    ("bounding_box_train/0001_c1s1_000151_01.jpg", False), ("a/../b.jpg", False), ("./a.jpg", False),
    ("a..b/c..jpg", False), ("../x.jpg", True), ("a/../../x.jpg", True), ("..", True), ("/etc/passwd", True),
    ("C:\\\\x.jpg", True), ("..\\\\x.jpg", True), ("", True)])
def test_paths_from_data_files_stay_inside_their_root(entry, escapes):
    from reidzoo.paths import escapes_root
    assert escapes_root(entry) is escapes
    assert escapes_root("/data/x.jpg", allow_absolute=True) is False


def test_msmt_and_folder_lists_naming_files_outside_their_root_fail(tmp_path):
    from reidzoo.data import FolderDataset, MSMT17
    from reidzoo.paths import PathOutsideRootError
    root = tmp_path / "MSMT17_V1"
    for d in ("train", "test"):
        (root / d).mkdir(parents=True)
    for name in ("list_train.txt", "list_query.txt", "list_gallery.txt"):
        (root / name).write_text("0000/0000_000_01_0303morning_0015_0.jpg 0\n")
    (root / "list_gallery.txt").write_text("0000/0000_000_01_0303morning_0015_0.jpg 0\n"
                                           "../../../etc/0001_000_01_0303morning_0015_0.jpg 1\n")
    with pytest.raises(PathOutsideRootError, match=r"list_gallery.txt:2: '../../../etc/.*' is outside its root"):
        MSMT17(root, verify=False)
    own = tmp_path / "own"
    own.mkdir()
    (own / "query.txt").write_text("/etc/passwd 1 1\n")
    with pytest.raises(PathOutsideRootError, match=r"query.txt:1: '/etc/passwd' is outside"):
        FolderDataset(own)


def test_a_folder_path_with_a_known_layout_gets_its_reader(market_root, tmp_path):
    # `reidzoo evaluate --dataset PATH` on a Market-1501 or MSMT17 folder reads it as that dataset
    with pytest.warns(UserWarning, match="differs from the published dataset"):
        ds = build_dataset(str(market_root / "Market-1501-v15.09.15"))
    assert isinstance(ds, Market1501) and len(ds.gallery) == 4 and ds.junk
    msmt = msmt_tree(tmp_path / "m")
    with pytest.warns(UserWarning):
        assert isinstance(build_dataset(str(msmt)), MSMT17)
