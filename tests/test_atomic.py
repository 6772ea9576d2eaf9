"""The atomic writers: a failed write keeps the old file or folder and leaves no temporary behind."""
import numpy as np
import pytest

from reidzoo.atomic import atomic_dir, atomic_path, atomic_write_text


def test_file_writer_replaces_or_keeps(tmp_path):
    target = tmp_path / "sub" / "feats.npz"
    with atomic_path(target) as tmp:
        assert tmp.suffix == ".npz" and tmp.parent == target.parent
        np.savez(tmp, a=np.arange(3))
    assert np.load(target)["a"].tolist() == [0, 1, 2]
    atomic_write_text(tmp_path / "r.json", "old")
    with pytest.raises(OSError):
        with atomic_path(tmp_path / "r.json") as tmp:
            tmp.write_text("half")
            raise OSError("disk full")
    assert (tmp_path / "r.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "sub"]
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["feats.npz"]


def test_folder_writer_replaces_or_keeps(tmp_path):
    out = tmp_path / "out"
    with atomic_dir(out) as tmp:
        (tmp / "a.txt").write_text("1")
    with pytest.raises(FileExistsError, match="overwrite"):
        with atomic_dir(out):
            pass
    with pytest.raises(RuntimeError):
        with atomic_dir(out, overwrite=True) as tmp:
            (tmp / "b.txt").write_text("2")
            raise RuntimeError("crash")
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and [p.name for p in out.iterdir()] == ["a.txt"]
    with atomic_dir(out, overwrite=True) as tmp:
        (tmp / "b.txt").write_text("2")
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and [p.name for p in out.iterdir()] == ["b.txt"]
