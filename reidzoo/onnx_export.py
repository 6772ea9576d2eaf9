"""ONNX export of zoo backbones and running the exported file with onnxruntime like a zoo model.

The graph maps preprocessed (N, 3, H, W) images ("images", N dynamic) to (N, D) features
("features"); the file's metadata (key `reidzoo`) keeps the zoo name, the preprocessing and the
provenance, so `load_onnx` gives back a model whose `.transform` and `pretrained_cfg` are the
PyTorch model's and which `extract_features`, `reidzoo evaluate` and `reidzoo extract` take as
they take any zoo model.
"""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np
import torch
from torch import nn

from .atomic import atomic_path
from .transforms import Preprocessing, build_transform

PathLike = Union[str, os.PathLike]
INPUT_NAME, OUTPUT_NAME = "images", "features"
METADATA_KEY = "reidzoo"
# Col2Im (VOLO's F.fold) entered the ONNX standard in opset 18
DEFAULT_OPSET = 18


class OnnxExportError(RuntimeError):
    """A model the ONNX exporter or onnxruntime cannot handle."""


def _require(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError as exc:
        raise OnnxExportError(f"{module} is not installed: pip install 'cion-reidzoo[onnx]' "
                              f"(or pip install onnx onnxruntime)") from exc


def _col2im(g, input, output_size, kernel_size, dilation, padding, stride):  # noqa: A002 (exporter's names)
    # torch's own opset-18 col2im symbolic reads the number of spatial axes from a constant
    # output_size; VOLO's F.fold takes (H, W) from the traced shape, which is no constant, and the
    # export failed. A fold is always 2-D here, so the attributes need no such lookup.
    from torch.onnx import symbolic_helper
    dilation, padding, stride = (symbolic_helper._maybe_get_const(v, "is") for v in (dilation, padding, stride))
    pads = [p for p in padding for _ in range(2)]
    return g.op("Col2Im", input, output_size, kernel_size, dilations_i=list(dilation), pads_i=pads,
                strides_i=list(stride))


def _register_symbolics(opset: int) -> None:
    if opset >= 18:
        torch.onnx.register_custom_op_symbolic("aten::col2im", _col2im, 18)


def export_onnx(model: nn.Module, path: PathLike, opset: int = DEFAULT_OPSET,
                metadata: Optional[Dict[str, Any]] = None) -> Path:
    """Write `model` (eval mode, (N,3,H,W) -> (N,D)) as an ONNX file with a dynamic batch axis.

    H and W are the model's input size (`pretrained_cfg`); the file is written to a temporary
    name and renamed, and its metadata records the preprocessing (and `metadata`, e.g. provenance).
    """
    onnx = _require("onnx")
    prep = Preprocessing.of(model)
    model = model.eval()
    example = torch.zeros(2, 3, *prep.size)
    path = Path(path)
    _register_symbolics(opset)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        # the TorchScript exporter's deprecation notice and its tracer warnings about Python-side shape
        # arithmetic, which are constant for a fixed H x W
        warnings.simplefilter("ignore")
        try:
            with torch.no_grad():
                torch.onnx.export(model, (example,), str(tmp), input_names=[INPUT_NAME],
                                  output_names=[OUTPUT_NAME], opset_version=opset, dynamo=False,
                                  dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
        except Exception as exc:  # the exporter raises many types; the message is what matters
            raise OnnxExportError(f"torch.onnx.export failed for {getattr(model, 'zoo_name', type(model).__name__)}: "
                                  f"{str(exc).splitlines()[0]}") from exc
        proto = onnx.load(str(tmp))
        info = {"pretrained_cfg": {"input_size": [3, *prep.size], "mean": list(prep.mean), "std": list(prep.std),
                                   "interpolation": prep.interpolation},
                "name": getattr(model, "zoo_name", None), **(metadata or {})}
        entry = proto.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, json.dumps(info)
        onnx.save(proto, str(tmp))
    return path


class OnnxModel(nn.Module):
    """An ONNX file run by onnxruntime (CPU), callable like a zoo backbone on (N,3,H,W) tensors."""

    def __init__(self, path: PathLike, threads: Optional[int] = None):
        super().__init__()
        ort = _require("onnxruntime")
        self.path = Path(path)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's errors carry no common base class
            raise OnnxExportError(f"onnxruntime cannot load {self.path}: {str(exc).splitlines()[0]}") from exc
        meta = self.session.get_modelmeta().custom_metadata_map
        self.info = json.loads(meta.get(METADATA_KEY, "{}"))
        self.zoo_name = self.info.get("name")
        self.pretrained_cfg = dict(self.info.get("pretrained_cfg") or {})
        self.transform = build_transform(self.pretrained_cfg)
        self.input_name = self.session.get_inputs()[0].name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N,3,H,W) preprocessed images -> (N,D) features, computed by onnxruntime."""
        out = self.session.run(None, {self.input_name: x.detach().cpu().float().contiguous().numpy()})[0]
        return torch.from_numpy(np.ascontiguousarray(out))


def load_onnx(path: PathLike, threads: Optional[int] = None) -> OnnxModel:
    """An exported .onnx file as a model for extract_features / evaluation (onnxruntime on the CPU)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"ONNX file {path} does not exist")
    return OnnxModel(path, threads)


def parity(model: nn.Module, onnx_model: OnnxModel, batch: int = 3, seed: int = 0) -> float:
    """max |onnxruntime - PyTorch| / max |PyTorch| on a random batch of the model's input size."""
    size = Preprocessing.of(model).size
    x = torch.randn(batch, 3, *size, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        want = model.eval()(x)
    got = onnx_model(x)
    return float((got - want).abs().max() / want.abs().max().clamp_min(1e-12))


def export_source(source: PathLike, out: PathLike, weights: Optional[PathLike] = None, pretrained: bool = True,
                  opset: int = DEFAULT_OPSET) -> Tuple[Path, float]:
    """Export a zoo name, hub folder, release .pth or fine-tuning / Cluster Contrast last.pth to ONNX;
    returns (path, parity).

    A fine-tuning checkpoint exports the model its run evaluated (`reidzoo.finetune.load_run`; a
    Cluster Contrast one: GeM and neck included, `cluster_contrast.load_checkpoint`);
    the parity is `parity()` of the written file against that PyTorch model.
    """
    from .finetune.cluster_contrast import holds_contrast_run, model_from_checkpoint
    from .finetune.export import holds_finetune_run, load_run, read_plain_checkpoint
    from .loading import load
    meta: Dict[str, Any] = {"source": str(source)}
    ck = read_plain_checkpoint(source)
    if ck is not None and holds_finetune_run(ck):
        run = load_run(source)
        model = run.model
        meta["finetune"] = {"model": run.config.get("model"), "dataset": run.config.get("dataset"),
                            "epochs_done": run.epochs_done, "metrics": run.metrics}
        model.zoo_name = run.config.get("model")
    elif ck is not None and holds_contrast_run(ck):
        model = model_from_checkpoint(ck, str(source))
        evaluated = [h for h in ck["history"] if "mAP" in h]
        meta["cluster_contrast"] = {"model": ck["config"].get("model"), "dataset": ck["config"].get("dataset"),
                                    "epochs_done": len(ck["history"]) - 1,
                                    "metrics": {k: evaluated[-1][k] for k in ("mAP", "rank1", "mINP")
                                                if evaluated and k in evaluated[-1]}}
        model.zoo_name = ck["config"].get("model")
    else:
        model = load(source, weights=weights, pretrained=pretrained)
    path = export_onnx(model, out, opset=opset, metadata=meta)
    return path, parity(model, load_onnx(path))
