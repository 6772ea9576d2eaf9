"""Tracklet mining: detectors (hog, file, torchvision code path), tracking quality on synthetic
videos with ground truth, the real vtest.avi clip, resume, shards and bad inputs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from cion.mining.detectors import (DetectorUnavailable, FileDetector, HogDetector, TorchvisionDetector,
                                   UltralyticsDetector, build_detector, parse_mot_detections)
from cion.mining.pipeline import MiningConfig, mine_video, mine_videos, rebuild_index, shard_videos
from cion.mining.quality import evaluate_synthetic, evaluate_video, tracklet_purity, load_mot
from cion.mining.tracklets import FilterConfig, TrackletBuffer, Candidate, read_tracklets, sample_evenly

VTEST = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
KEYS = {"video": str, "tracklet": int, "frame": int, "bbox": list, "score": float, "file_path": str}

cv2.setNumThreads(2)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    """Three short synthetic clips with ground truth (reidzoo.data.synthetic)."""
    from reidzoo.data.synthetic import make_videos
    root = tmp_path_factory.mktemp("mining") / "world"
    make_videos(root, n_videos=3, people_per_video=4, frames=120, seed=7, progress=False)
    return root


@pytest.fixture(scope="module")
def synthetic_dets(synthetic, tmp_path_factory) -> Path:
    """det.txt per synthetic video made from its ground truth with jitter, misses and one bad line,
    the way a public benchmark hands over a detector's output."""
    rng = np.random.default_rng(0)
    out = tmp_path_factory.mktemp("dets")
    for gt in sorted((synthetic / "gt").glob("*/gt.txt")):
        rows = np.loadtxt(gt, delimiter=",", ndmin=2)
        lines = []
        for r in rows:
            if rng.random() < 0.1:  # the detector missed this one
                continue
            x, y, w, h = r[2:6] + rng.normal(0, 1.5, 4)
            lines.append(f"{int(r[0])},-1,{x:.1f},{y:.1f},{w:.1f},{h:.1f},{rng.uniform(0.6, 1.0):.3f},-1,-1,-1")
        lines.insert(3, "7,-1,not,a,number,here,0.9")
        (out / gt.parent.name).mkdir()
        (out / gt.parent.name / "det.txt").write_text("\n".join(lines) + "\n")
    return out


def file_config(dets: Path, **filters) -> MiningConfig:
    return MiningConfig(detector="file", detections=str(dets), filters=FilterConfig(**filters))


def index_lines(out: Path) -> list[str]:
    return (out / "tracklets.jsonl").read_text().splitlines()


# ---------------------------------------------------------------- units

def test_sample_evenly_and_bounded_buffer():
    assert sample_evenly(5, 8) == [0, 1, 2, 3, 4]
    assert sample_evenly(100, 3) == [0, 50, 99]
    buf = TrackletBuffer(capacity=6)
    for i in range(1000):
        buf.add(Candidate(i, np.zeros(4), 1.0, np.zeros((1, 1, 3), np.uint8)))
    assert buf.accepted == 1000 and len(buf.items) <= 6
    frames = [c.frame for c in buf.sample(4)]
    assert frames[0] == 0 and frames[-1] >= 500, frames  # spread over the whole track, not its start


def test_parse_mot_detections_reports_bad_lines(tmp_path):
    det = tmp_path / "det.txt"
    det.write_text("1,-1,10,20,30,60,0.9,-1,-1,-1\n"
                   "\n"
                   "1,-1,5,5,x,60,0.9\n"
                   "2,-1,10,20\n"
                   "0,-1,10,20,30,60,0.9\n"
                   "2,-1,10,20,-3,60,0.9\n"
                   "2 -1 11 21 30 60 0.8\n")
    boxes, problems = parse_mot_detections(det)
    assert sorted(boxes) == [1, 2]
    np.testing.assert_allclose(boxes[1][0], [10, 20, 40, 80, 0.9], rtol=1e-6)
    assert [p.split(":")[0] for p in problems] == ["line 3", "line 4", "line 5", "line 6"]
    d = FileDetector(det)
    assert len(d.detect(np.zeros((10, 10, 3), np.uint8), 0)) == 1  # frame index 0 is file frame 1
    assert len(d.detect(np.zeros((10, 10, 3), np.uint8), 5)) == 0


def test_frames_follow_stride_and_time_range(synthetic):
    from cion.mining.video import iter_frames, probe_video
    video = synthetic / "videos" / "vid000.avi"
    info = probe_video(video)
    assert info.fps == 25.0 and info.frame_count == 120 and (info.width, info.height) == (640, 360)
    got = [i for i, frame in iter_frames(video, stride=5, start_s=1.0, end_s=2.0)]
    assert got == [25, 30, 35, 40, 45]
    assert len(list(iter_frames(video, stride=50))) == 3


# ---------------------------------------------------------------- detectors

def test_hog_detector_finds_pedestrians_in_vtest():
    cap = cv2.VideoCapture(str(VTEST))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 100)
    ok, frame = cap.read()
    assert ok, f"cannot read {VTEST} (apt-get install opencv-doc)"
    dets = HogDetector().detect(frame, 100)
    assert len(dets) >= 1
    h = dets.xyxy[:, 3] - dets.xyxy[:, 1]
    w = dets.xyxy[:, 2] - dets.xyxy[:, 0]
    assert (h >= 90).all() and ((w / h > 0.25) & (w / h < 0.6)).all()
    assert ((dets.confidence > 0) & (dets.confidence < 1)).all()


def test_torchvision_detector_code_path_with_local_weights(tmp_path, monkeypatch):
    import torch
    import torchvision.models.detection as tvd
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty_cache"))
    with pytest.raises(DetectorUnavailable, match="--detector-weights"):
        build_detector("torchvision", model="fasterrcnn_mobilenet_v3_large_fpn")
    with pytest.raises(DetectorUnavailable, match="not found"):
        TorchvisionDetector("fasterrcnn_mobilenet_v3_large_fpn", weights=tmp_path / "missing.pth")
    torch.manual_seed(0)
    net = tvd.fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None)
    path = tmp_path / "frcnn.pth"
    torch.save(net.state_dict(), path)
    det = TorchvisionDetector("fasterrcnn_mobilenet_v3_large_fpn", weights=path, scale=0.5, min_score=0.0)
    out = det.detect(np.full((240, 320, 3), 127, np.uint8), 0)  # random weights: any count, right shapes
    assert out.xyxy.shape[1] == 4 and len(out.confidence) == len(out)
    wrong = tmp_path / "wrong.pth"
    torch.save({"backbone.x": torch.zeros(1)}, wrong)
    with pytest.raises(DetectorUnavailable, match="does not hold weights"):
        TorchvisionDetector("fasterrcnn_mobilenet_v3_large_fpn", weights=wrong)


def test_ultralytics_detector_errors_are_clear(tmp_path):
    with pytest.raises(DetectorUnavailable, match="not found"):
        UltralyticsDetector(tmp_path / "yolov8n.pt")
    weights = tmp_path / "yolov8n.pt"
    weights.write_bytes(b"a pickle that would run code")
    # ultralytics unpickles .pt files fully: never without the user's word, whether or not it is installed
    with pytest.raises(DetectorUnavailable, match="full unpickling.*--trust-detector-weights"):
        UltralyticsDetector(weights)
    try:
        import ultralytics  # noqa: F401
    except ImportError:
        with pytest.raises(DetectorUnavailable, match="pip install ultralytics"):
            UltralyticsDetector(weights, trust=True)
    with pytest.raises(DetectorUnavailable, match="unknown detector"):
        build_detector("yolo9000")


# ---------------------------------------------------------------- quality on synthetic videos

def test_file_detector_mining_matches_ground_truth(synthetic, synthetic_dets, tmp_path):
    out = tmp_path / "out"
    s = mine_videos([synthetic / "videos"], out, file_config(synthetic_dets), progress=False)
    assert s["mined"] == 3 and not s["failed"]
    summary = json.loads((out / "videos" / "vid000" / "summary.json").read_text())
    assert summary["detection_file_problems"] and summary["detection_file_problems"][0].startswith("line 4")
    q = evaluate_synthetic(out, synthetic)["pooled"]
    assert q["purity"] >= 0.95 and q["IDF1"] >= 0.6 and q["tracklets"] >= 3, q


def test_hog_tracklets_are_pure_on_synthetic_video(synthetic, tmp_path):
    """Defaults end to end (HOG -> ByteTrack -> filters) on one synthetic clip against its gt."""
    out = tmp_path / "out"
    s = mine_videos([synthetic / "videos" / "vid001.avi"], out, MiningConfig(), progress=False)
    assert s["mined"] == 1
    q = evaluate_video(out, "vid001", synthetic / "gt" / "vid001" / "gt.txt")
    print(f"HOG on synthetic vid001: purity {q['purity']:.3f} IDF1 {q['IDF1']:.3f} MOTA {q['MOTA']:.3f} "
          f"HOTA {q['HOTA']:.3f} tracklets {q['tracklets']}")
    assert q["tracklets"] >= 1 and q["purity"] >= 0.95, q
    assert 0.0 < q["IDF1"] <= 1.0


def test_purity_counts_a_swapped_tracklet():
    gt = {1: (np.array([1, 2]), np.array([[0, 0, 10, 20], [50, 0, 10, 20]], float)),
          2: (np.array([1, 2]), np.array([[0, 0, 10, 20], [50, 0, 10, 20]], float))}
    recs = [{"tracklet": 0, "frame": 0, "bbox": [0, 0, 10, 20]}, {"tracklet": 0, "frame": 1, "bbox": [50, 0, 10, 20]},
            {"tracklet": 1, "frame": 1, "bbox": [0, 0, 10, 20]}]
    p = tracklet_purity(recs, gt)
    assert p["purity"] == pytest.approx(2 / 3) and p["people_found"] == 1  # the tie goes to person 1


# ---------------------------------------------------------------- the real clip

def test_vtest_mining(tmp_path):
    assert VTEST.exists(), f"{VTEST} missing: apt-get install opencv-doc"
    out = tmp_path / "out"
    cfg = MiningConfig(stride=2, end_s=20.0)  # 100 of 795 frames keep the test short
    s = mine_videos([VTEST], out, cfg, progress=False)
    assert s["mined"] == 1 and not s["failed"]
    summary = json.loads((out / "videos" / "vtest" / "summary.json").read_text())
    assert summary["frames_processed"] == 100 and summary["width"] == 768
    records = list(read_tracklets(out / "tracklets.jsonl"))
    assert records == list(read_tracklets(out / "videos" / "vtest" / "tracklets.jsonl"))
    tracklets = {r["tracklet"] for r in records}
    assert len(tracklets) >= 4 and tracklets == set(range(len(tracklets)))
    assert summary["tracklets"] == len(tracklets) and summary["crops"] == len(records)
    f = cfg.filters
    for r in records:
        assert {k: type(v) for k, v in r.items()} == KEYS
        assert r["video"] == "vtest" and r["frame"] % 2 == 0 and r["frame"] < 200
        x, y, w, h = r["bbox"]
        assert h >= f.min_height and f.min_aspect <= w / h <= f.max_aspect
        assert x >= f.border_margin and y >= f.border_margin and x + w <= 768 - f.border_margin
        path = out / r["file_path"]
        assert not Path(r["file_path"]).is_absolute() and path.read_bytes()[:2] == b"\xff\xd8"
        crop = cv2.imread(str(path))
        assert crop is not None
        # the crop is the box plus the margin (clipped by the frame)
        assert h <= crop.shape[0] <= h * (1 + 2 * f.crop_margin) + 2
        assert w <= crop.shape[1] <= w * (1 + 2 * f.crop_margin) + 2
    per_tracklet = np.bincount([r["tracklet"] for r in records])
    assert (per_tracklet <= f.max_crops).all()
    assert min(per_tracklet) >= 1


# ---------------------------------------------------------------- scale: resume and shards

def test_resume_skips_finished_videos(synthetic, synthetic_dets, tmp_path):
    out = tmp_path / "out"
    cfg = file_config(synthetic_dets)
    first = mine_videos([synthetic / "videos"], out, cfg, progress=False)
    assert first["mined"] == 3
    stamp = (out / "videos" / "vid000" / "summary.json").stat().st_mtime_ns
    lines = index_lines(out)
    second = mine_videos([synthetic / "videos"], out, cfg, progress=False)
    assert second["mined"] == 0 and second["skipped"] == 3
    assert (out / "videos" / "vid000" / "summary.json").stat().st_mtime_ns == stamp
    assert index_lines(out) == lines
    # an interrupted run leaves only a temporary folder: that video is redone, the rest skipped
    import shutil
    shutil.rmtree(out / "videos" / "vid002")
    (out / "videos" / ".vid002.tmp-1-dead").mkdir()
    assert rebuild_index(out) < len(lines)
    third = mine_videos([synthetic / "videos"], out, cfg, progress=False)
    assert third["mined"] == 1 and third["skipped"] == 2
    assert index_lines(out) == lines


def test_two_shards_make_the_whole(synthetic, synthetic_dets, tmp_path):
    videos = sorted((synthetic / "videos").glob("*.avi"))
    parts = [shard_videos(videos, i, 2) for i in range(2)]
    assert sorted(parts[0] + parts[1]) == videos and not set(parts[0]) & set(parts[1])
    cfg = file_config(synthetic_dets)
    whole, sharded = tmp_path / "whole", tmp_path / "sharded"
    mine_videos([synthetic / "videos"], whole, cfg, progress=False)
    s0 = mine_videos([synthetic / "videos"], sharded, cfg, shard=0, num_shards=2, progress=False)
    s1 = mine_videos([synthetic / "videos"], sharded, cfg, shard=1, num_shards=2, progress=False)
    assert s0["mined"] + s1["mined"] == 3 and s0["mined"] and s1["mined"]
    assert index_lines(sharded) == index_lines(whole)
    assert (sharded / "run_summary.shard1-of-2.json").exists()
    with pytest.raises(ValueError, match="--shard"):
        shard_videos(videos, 2, 2)


def test_process_pool_gives_the_same_tracklets(synthetic, synthetic_dets, tmp_path):
    cfg = file_config(synthetic_dets)
    mine_videos([synthetic / "videos"], tmp_path / "one", cfg, progress=False)
    s = mine_videos([synthetic / "videos"], tmp_path / "pool", cfg, workers=2, progress=False)
    assert s["mined"] == 3
    assert index_lines(tmp_path / "pool") == index_lines(tmp_path / "one")


# ---------------------------------------------------------------- bad inputs

def test_bad_inputs_are_reported_and_the_rest_is_mined(synthetic, synthetic_dets, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "notavideo.avi").write_text("this is text, not a video")
    (bad / "zero.avi").write_bytes(b"")
    data = (synthetic / "videos" / "vid000.avi").read_bytes()
    (bad / "garbage.avi").write_bytes(data[:2000] + bytes(np.random.default_rng(0).integers(0, 256, 60000, np.uint8)))
    (bad / "cut.avi").write_bytes(data[: len(data) // 3])  # truncated: mined up to the cut, with a warning
    writer = cv2.VideoWriter(str(bad / "empty.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25, (320, 240))
    writer.release()  # a valid container without frames
    writer = cv2.VideoWriter(str(bad / "nobody.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25, (320, 240))
    for i in range(20):
        writer.write(np.full((240, 320, 3), 90 + i, np.uint8))
    writer.release()
    dets = tmp_path / "dets"
    dets.mkdir()
    for name in ("notavideo", "zero", "garbage", "empty", "nobody", "missing"):
        (dets / f"{name}.txt").write_text("")
    (dets / "cut.txt").write_text((synthetic_dets / "vid000" / "det.txt").read_text())
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "cion", "mine", str(bad),
                           str(tmp_path / "missing.mp4"), "--out", str(out), "--detector", "file",
                           "--detections", str(dets), "--quiet"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    failed = [ln for ln in proc.stderr.splitlines() if ln.startswith("FAILED")]
    assert len(failed) == 4, proc.stderr
    for name, why in [("notavideo.avi", "cannot open"), ("zero.avi", "0 bytes"), ("garbage.avi", "no frame"),
                      ("missing.mp4", "not found")]:
        assert any(name in ln and why in ln for ln in failed), (name, proc.stderr)
    assert "cut.avi" in proc.stderr and "decoded" in proc.stderr  # truncation warning
    run = json.loads((out / "run_summary.json").read_text())
    assert run["mined"] == 3 and len(run["failed"]) == 4
    empty = json.loads((out / "videos" / "empty" / "summary.json").read_text())
    nobody = json.loads((out / "videos" / "nobody" / "summary.json").read_text())
    assert empty["frames_processed"] == 0 and empty["tracklets"] == 0
    assert nobody["frames_processed"] == 20 and nobody["tracklets"] == 0
    assert json.loads((out / "videos" / "cut" / "summary.json").read_text())["tracklets"] >= 1
    assert not [p for p in (out / "videos").iterdir() if p.name.startswith(".")]  # no temp leftovers
    assert "mined" in proc.stdout


def test_cli_rejects_unusable_options(tmp_path, capsys):
    from cion.cli import main
    assert main(["mine", VTEST, "--out", tmp_path / "o", "--detector", "file", "--detections", tmp_path / "nope"]) == 2
    err = capsys.readouterr().err
    assert "--detections" in err and "does not exist" in err
