"""Person detectors behind one interface: `detect(frame, frame_index) -> supervision.Detections`.

Boxes come back as xyxy in full-resolution frame coordinates with a confidence in [0, 1];
each detector downscales internally when asked to (`scale`), so crops can always be cut
from the full-resolution frame.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import supervision as sv

log = logging.getLogger(__name__)

DETECTOR_NAMES = ("hog", "file", "torchvision", "ultralytics")


class DetectorUnavailable(RuntimeError):
    """The chosen detector cannot run here (missing weights or package); the message says what to do."""

    exit_code = 2  # the options ask for something this machine does not have


class Detector(Protocol):
    """Returns person boxes (xyxy, full-resolution pixels) and confidences for one frame."""

    name: str

    def detect(self, frame: np.ndarray, frame_index: int) -> sv.Detections: ...


def _detections(xyxy: np.ndarray, scores: np.ndarray) -> sv.Detections:
    xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    return sv.Detections(xyxy=xyxy, confidence=np.asarray(scores, dtype=np.float32).reshape(-1))


def _resize(frame: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return frame
    interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    return cv2.resize(frame, None, fx=scale, fy=scale, interpolation=interp)


def nms(xyxy: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression (OpenCV's implementation)."""
    if len(xyxy) == 0:
        return np.zeros(0, dtype=int)
    xywh = np.column_stack([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]]).astype(np.float32)
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), scores.astype(np.float32).tolist(), score_threshold=0.0, nms_threshold=iou)
    return np.asarray(keep, dtype=int).reshape(-1)


def nested_suppression(xyxy: np.ndarray, scores: np.ndarray, overlap: float = 0.7) -> np.ndarray:
    """Indices kept after dropping a box mostly inside a higher-scoring one.

    HOG fires on a person at several pyramid levels; the small box inside the big one has a
    low IoU with it, so plain NMS keeps both and the tracker would see two people.
    """
    order = np.argsort(-scores)
    keep: list[int] = []
    areas = np.prod(xyxy[:, 2:] - xyxy[:, :2], axis=1)
    for i in order:
        inside = False
        for j in keep:
            ix = max(0.0, min(xyxy[i, 2], xyxy[j, 2]) - max(xyxy[i, 0], xyxy[j, 0]))
            iy = max(0.0, min(xyxy[i, 3], xyxy[j, 3]) - max(xyxy[i, 1], xyxy[j, 1]))
            if ix * iy >= overlap * min(areas[i], areas[j]):
                inside = True
                break
        if not inside:
            keep.append(int(i))
    return np.asarray(keep, dtype=int)


# Where the person lies inside a HOG detection window (x0, y0, w, h as fractions of the window):
# the 64x128 window pads the body on every side. Measured as the median ground-truth box inside
# matched windows on synthetic videos (0.26, 0.13, 0.48, 0.71), loosened a little so limbs stay in.
HOG_BODY = (0.22, 0.11, 0.56, 0.76)


class HogDetector:
    """OpenCV's built-in HOG + linear SVM people detector (Dalal & Triggs); no weights to fetch.

    Its window is 64x128, so at `scale=1` people shorter than ~100 px are missed; `scale=2`
    finds people from ~50 px tall at four times the cost. Boxes are shrunk from the padded
    window to the body (HOG_BODY) unless `tight=False`. The SVM margin m is mapped to a
    confidence 1 - exp(-m), so margin 1 -> 0.63 and margin 2 -> 0.86.
    """

    name = "hog"

    def __init__(self, scale: float = 1.0, hit_threshold: float = 0.0, win_stride: int = 8,
                 pyramid_scale: float = 1.05, nms_iou: float = 0.45, tight: bool = True):
        if not hasattr(cv2, "HOGDescriptor"):
            raise DetectorUnavailable(
                f"this OpenCV ({cv2.__version__}) has no HOGDescriptor (OpenCV 5 moved it to contrib): "
                "install opencv-python<5 (as pyproject.toml pins) or opencv-contrib-python")
        if scale <= 0:
            raise ValueError(f"detector scale must be > 0, got {scale}")
        self.scale = float(scale)
        self.hit_threshold = float(hit_threshold)
        self.win_stride = (int(win_stride), int(win_stride))
        self.pyramid_scale = float(pyramid_scale)
        self.nms_iou = float(nms_iou)
        self.tight = bool(tight)
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def detect(self, frame: np.ndarray, frame_index: int) -> sv.Detections:
        """Person boxes of one BGR frame."""
        small = _resize(frame, self.scale)
        rects, weights = self.hog.detectMultiScale(small, hitThreshold=self.hit_threshold, winStride=self.win_stride,
                                                   padding=(8, 8), scale=self.pyramid_scale)
        if len(rects) == 0:
            return _detections(np.zeros((0, 4)), np.zeros(0))
        rects = np.asarray(rects, dtype=np.float32)
        if self.tight:
            fx, fy, fw, fh = HOG_BODY
            rects = np.column_stack([rects[:, 0] + fx * rects[:, 2], rects[:, 1] + fy * rects[:, 3],
                                     fw * rects[:, 2], fh * rects[:, 3]])
        xyxy = np.column_stack([rects[:, :2], rects[:, :2] + rects[:, 2:]]) / self.scale
        scores = 1.0 - np.exp(-np.clip(np.asarray(weights, dtype=np.float32).reshape(-1), 0, None))
        keep = nms(xyxy, scores, self.nms_iou)
        xyxy, scores = xyxy[keep], scores[keep]
        keep = nested_suppression(xyxy, scores)
        return _detections(xyxy[keep], scores[keep])


def parse_mot_detections(path: str | Path, min_score: float | None = None) -> tuple[dict[int, np.ndarray], list[str]]:
    """Read a MOTChallenge det.txt: `frame(1-based),id,x,y,w,h,score,...` per line.

    Returns ({frame: (N,5) array of x1,y1,x2,y2,score}, problems) where problems names every bad
    line by its number; blank lines and `#` comments are skipped.
    """
    per_frame: dict[int, list[list[float]]] = {}
    problems: list[str] = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            parts = [p.strip() for p in text.replace(";", ",").split(",")] if "," in text or ";" in text else text.split()
            if len(parts) < 6:
                problems.append(f"line {number}: {len(parts)} fields, need at least 6 (frame,id,x,y,w,h[,score])")
                continue
            try:
                frame = int(float(parts[0]))
                x, y, w, h = (float(v) for v in parts[2:6])
                score = float(parts[6]) if len(parts) > 6 and parts[6] != "" else 1.0
            except ValueError:
                problems.append(f"line {number}: not numbers: {text[:60]!r}")
                continue
            if not all(math.isfinite(v) for v in (x, y, w, h, score)):
                problems.append(f"line {number}: non-finite value")
                continue
            if frame < 1:
                problems.append(f"line {number}: frame {frame} < 1 (MOTChallenge frames are 1-based)")
                continue
            if w <= 0 or h <= 0:
                problems.append(f"line {number}: box width/height must be > 0, got {w}x{h}")
                continue
            if min_score is not None and score < min_score:
                continue
            per_frame.setdefault(frame, []).append([x, y, x + w, y + h, score])
    return {k: np.asarray(v, dtype=np.float32) for k, v in per_frame.items()}, problems


def find_detection_file(detections: str | Path, video_stem: str) -> Path:
    """The det.txt for one video: `detections` itself if it is a file, else one of
    `<dir>/<video>/det/det.txt`, `<dir>/<video>/det.txt`, `<dir>/<video>.txt`."""
    p = Path(detections)
    if p.is_file():
        return p
    candidates = [p / video_stem / "det" / "det.txt", p / video_stem / "det.txt", p / f"{video_stem}.txt"]
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(f"no detections for video {video_stem!r}: looked for "
                            + ", ".join(str(c) for c in candidates))


class FileDetector:
    """Precomputed detections from a MOTChallenge det.txt (frame numbers 1-based).

    Scores above 1 (some public detectors write raw logits or percentages) are squashed with
    a logistic so the tracker's [0, 1] thresholds still mean something.
    """

    name = "file"

    def __init__(self, path: str | Path, min_score: float | None = None):
        self.path = Path(path)
        self.boxes, self.problems = parse_mot_detections(self.path, min_score)
        if self.problems:
            shown = "; ".join(self.problems[:5])
            more = f" (and {len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
            log.warning("%s: skipped %d bad line(s): %s%s", self.path, len(self.problems), shown, more)
        scores = np.concatenate([b[:, 4] for b in self.boxes.values()]) if self.boxes else np.zeros(0)
        self._squash = bool(len(scores) and (scores.max() > 1.0 or scores.min() < 0.0))

    def detect(self, frame: np.ndarray, frame_index: int) -> sv.Detections:
        """The boxes listed for this frame (frame_index is 0-based, the file is 1-based)."""
        rows = self.boxes.get(frame_index + 1)
        if rows is None:
            return _detections(np.zeros((0, 4)), np.zeros(0))
        scores = 1.0 / (1.0 + np.exp(-rows[:, 4])) if self._squash else rows[:, 4]
        return _detections(rows[:, :4], scores)


# torchvision detection models that have COCO weights; person is COCO category 1 in their label space.
TORCHVISION_MODELS = {
    "fasterrcnn_resnet50_fpn": "FasterRCNN_ResNet50_FPN_Weights",
    "fasterrcnn_resnet50_fpn_v2": "FasterRCNN_ResNet50_FPN_V2_Weights",
    "fasterrcnn_mobilenet_v3_large_fpn": "FasterRCNN_MobileNet_V3_Large_FPN_Weights",
    "retinanet_resnet50_fpn": "RetinaNet_ResNet50_FPN_Weights",
    "retinanet_resnet50_fpn_v2": "RetinaNet_ResNet50_FPN_V2_Weights",
}
COCO_PERSON = 1


def _torch_hub_checkpoint(weights_enum_name: str) -> Path | None:
    """Path of the default COCO weights in the local torch hub cache, if they were downloaded before."""
    import torch
    import torchvision.models.detection as tvd

    weights = getattr(tvd, weights_enum_name).DEFAULT
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    return path if path.is_file() else None


class TorchvisionDetector:
    """A torchvision COCO detector (Faster R-CNN or RetinaNet) keeping the person class.

    Weights are never downloaded: pass a local state-dict file, or have the default COCO
    weights already in the torch hub cache (`torch.hub.get_dir()/checkpoints`).
    """

    name = "torchvision"

    def __init__(self, model: str = "fasterrcnn_resnet50_fpn_v2", weights: str | Path | None = None,
                 scale: float = 1.0, min_score: float = 0.3, device: str = "cpu"):
        import torch
        import torchvision.models.detection as tvd

        if model not in TORCHVISION_MODELS:
            raise DetectorUnavailable(f"unknown torchvision detector {model!r}; choose one of {sorted(TORCHVISION_MODELS)}")
        path = Path(weights) if weights else _torch_hub_checkpoint(TORCHVISION_MODELS[model])
        if path is None:
            raise DetectorUnavailable(
                f"no weights for torchvision {model}: pass --detector-weights PATH (a state dict of the COCO "
                f"model) or put the file in {Path(torch.hub.get_dir()) / 'checkpoints'}; nothing is downloaded")
        if not path.is_file():
            raise DetectorUnavailable(f"detector weights {path} not found")
        net = getattr(tvd, model)(weights=None, weights_backbone=None)
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
            state = state["model"]
        try:
            net.load_state_dict(state)
        except RuntimeError as e:
            raise DetectorUnavailable(f"{path} does not hold weights for torchvision {model}: {str(e)[:300]}") from e
        self.net = net.eval().to(device)
        self.device = device
        self.scale = float(scale)
        self.min_score = float(min_score)
        self._torch = torch

    def detect(self, frame: np.ndarray, frame_index: int) -> sv.Detections:
        """Person boxes of one BGR frame."""
        torch = self._torch
        rgb = cv2.cvtColor(_resize(frame, self.scale), cv2.COLOR_BGR2RGB)
        x = torch.from_numpy(rgb).permute(2, 0, 1).float().div_(255.0).to(self.device)
        with torch.inference_mode():
            out = self.net([x])[0]
        keep = (out["labels"] == COCO_PERSON) & (out["scores"] >= self.min_score)
        xyxy = out["boxes"][keep].cpu().numpy() / self.scale
        return _detections(xyxy, out["scores"][keep].cpu().numpy())


class UltralyticsDetector:
    """An Ultralytics YOLO model (a local .pt/.onnx file) keeping COCO class 0, person.

    Ultralytics reads .pt files with full unpickling, which runs whatever code the file carries, so a
    .pt is loaded only with `trust=True` (--trust-detector-weights); an .onnx file holds no code.
    """

    name = "ultralytics"

    def __init__(self, weights: str | Path | None, scale: float = 1.0, min_score: float = 0.25, device: str = "cpu",
                 trust: bool = False):
        if not weights:
            raise DetectorUnavailable("the ultralytics detector needs --detector-weights PATH (e.g. a local yolov8n.pt); "
                                      "names are not resolved because that would download")
        path = Path(weights)
        if not path.is_file():
            raise DetectorUnavailable(f"detector weights {path} not found (nothing is downloaded)")
        if path.suffix.lower() != ".onnx" and not trust:
            raise DetectorUnavailable(
                f"{path}: ultralytics loads {path.suffix or 'such'} files by full unpickling, which runs any code "
                f"the file holds; pass --trust-detector-weights if it comes from a source you trust (e.g. the "
                f"official Ultralytics release), or export the model to .onnx")
        try:
            from ultralytics import YOLO
        except ImportError as e:
            raise DetectorUnavailable("the ultralytics detector needs the optional package: pip install ultralytics") from e
        self.model = YOLO(str(path))
        self.scale = float(scale)
        self.min_score = float(min_score)
        self.device = device

    def detect(self, frame: np.ndarray, frame_index: int) -> sv.Detections:
        """Person boxes of one BGR frame."""
        result = self.model.predict(_resize(frame, self.scale), classes=[0], conf=self.min_score,
                                    device=self.device, verbose=False)[0]
        boxes = result.boxes
        return _detections(boxes.xyxy.cpu().numpy() / self.scale, boxes.conf.cpu().numpy())


def build_detector(name: str, *, scale: float = 1.0, weights: str | Path | None = None,
                   detections_file: str | Path | None = None, model: str | None = None,
                   device: str = "cpu", trust_weights: bool = False) -> Detector:
    """Make the detector called `name` (one of DETECTOR_NAMES); `trust_weights` lets ultralytics unpickle."""
    if name == "hog":
        return HogDetector(scale=scale)
    if name == "file":
        if detections_file is None:
            raise DetectorUnavailable("the file detector needs --detections PATH (a det.txt, or a folder "
                                      "with <video>/det/det.txt, <video>/det.txt or <video>.txt)")
        return FileDetector(detections_file)
    if name == "torchvision":
        return TorchvisionDetector(model=model or "fasterrcnn_resnet50_fpn_v2", weights=weights, scale=scale, device=device)
    if name == "ultralytics":
        return UltralyticsDetector(weights=weights, scale=scale, device=device, trust=trust_weights)
    raise DetectorUnavailable(f"unknown detector {name!r}; choose one of {', '.join(DETECTOR_NAMES)}")
