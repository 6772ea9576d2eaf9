"""Extract re-ID features with a zoo model: a dataset's query and gallery, or any image files.

With --dataset the .npz holds qf, gf, q_pids, g_pids, q_camids, g_camids (what
`reidzoo evaluate --features` reads) plus q_paths and g_paths; with images it holds features
(N x d float32) and paths. Images that cannot be decoded are left out and named in a warning.

Examples:
  reidzoo extract --model resnet50_ibn --dataset market1501 --out feats/market_r50ibn.npz
  reidzoo evaluate --features feats/market_r50ibn.npz --rerank
  reidzoo extract --model ./hub/my_model crops/ more/*.jpg --out feats/crops.npz --normalize
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import List, Sequence

from .argtypes import device, positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `reidzoo extract`."""
    p.add_argument("images", nargs="*", help="image files and/or folders (searched recursively)")
    p.add_argument("--model", required=True,
                   help="zoo model name (see `reidzoo zoo list`), a hub folder or an exported .onnx file")
    p.add_argument("--weights", help="checkpoint for --model (default: the model's released weights)")
    from reidzoo.data import dataset_names
    p.add_argument("--dataset", help=f"{', '.join(dataset_names())} or a folder of your own: extract query and gallery")
    p.add_argument("--root", help="data root holding the dataset folder (default: $REIDZOO_DATA or ./datasets)")
    p.add_argument("--out", required=True, metavar="FILE.npz", help="features file to write")
    p.add_argument("--normalize", action="store_true", help="L2-normalise the features")
    p.add_argument("--batch-size", type=positive_int, default=64, help="batch size (default 64)")
    p.add_argument("--device", type=device, default=None, help="cpu or cuda (default: cpu)")


def image_files(inputs: Sequence[str]) -> List[str]:
    """Image files named or found (recursively, sorted) under the given paths."""
    from reidzoo.data.base import IMAGE_EXTENSIONS
    out: List[str] = []
    for s in inputs:
        p = Path(s)
        if p.is_dir():
            out += [str(f) for f in sorted(p.rglob("*")) if f.suffix.lower() in IMAGE_EXTENSIONS]
        elif p.is_file():
            out.append(str(p))
        else:
            raise FileNotFoundError(f"{s} is neither an image file nor a folder")
    if not out:
        raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found in {', '.join(inputs)}")
    return out


def run(a: argparse.Namespace) -> int:
    """Extract and write the .npz."""
    import numpy as np

    import reidzoo
    from reidzoo.evaluation.report import extract_dataset, write_features
    if bool(a.dataset) == bool(a.images):
        raise ValueError("give either --dataset NAME or image files/folders (exactly one)")
    from reidzoo.data import build_dataset
    from reidzoo.loading import check_source
    # inputs are checked before the model is loaded
    check_source(a.model, a.weights)
    ds = build_dataset(a.dataset, a.root) if a.dataset else None
    paths = None if a.dataset else image_files(a.images)
    model = reidzoo.load(a.model, weights=a.weights, device=a.device or "cpu")
    if ds is not None:
        d = extract_dataset(model, ds, a.batch_size, a.device)
        arrays = dict(d.arrays, q_paths=np.array([p for p, _, _ in d.query]),
                      g_paths=np.array([p for p, _, _ in d.gallery]))
        if a.normalize:
            for k in ("qf", "gf"):
                arrays[k] = arrays[k] / np.linalg.norm(arrays[k], axis=1, keepdims=True).clip(1e-12)
        what = f"{len(d.query)} query + {len(d.gallery)} gallery images of {d.dataset.name}"
    else:
        feats, failed = reidzoo.extract_features(model, paths, batch_size=a.batch_size, device=a.device,
                                                 normalize=a.normalize, return_failed=True)
        keep = np.setdiff1d(np.arange(len(paths)), failed)
        arrays = dict(features=feats[keep], paths=np.array(paths)[keep])
        what = f"{len(keep)} images" + (f" ({len(failed)} undecodable left out)" if failed else "")
    write_features(a.out, **arrays)
    dim = arrays["qf" if a.dataset else "features"].shape[1]
    print(f"wrote {a.out}: {what}, {dim}-d features of {a.model}")
    return 0
