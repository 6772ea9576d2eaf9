"""Evaluation runs behind `reidzoo evaluate` and `reidzoo extract`: saved features or a zoo model on a dataset."""
from __future__ import annotations

import json
import os
import struct
import time
import warnings
import zipfile
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np

from ..atomic import atomic_path, atomic_write_text
from .evaluate import evaluate
from .features_file import JUNK_RULE

TIE_RULE = "equal float64 distances are ordered by gallery index (a stable argsort); see docs/evaluation.md"
from .protocol import EvaluationInputError

FEATURE_KEYS = ("qf", "gf", "q_pids", "g_pids", "q_camids", "g_camids")
OPTIONAL_KEYS = ("q_paths", "g_paths")      # written by `reidzoo extract --dataset`
_SAVE_HINT = "np.savez(path, qf=..., gf=..., q_pids=..., g_pids=..., q_camids=..., g_camids=...)"


def _mapped_member(path: str, info: zipfile.ZipInfo) -> Optional[np.ndarray]:
    """A read-only memory map of an uncompressed .npy member of a zip file (None if it can't be)."""
    if info.compress_type != zipfile.ZIP_STORED:
        return None
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
        if len(local) < 30 or local[:4] != b"PK\x03\x04":
            return None
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        f.seek(info.header_offset + 30 + name_len + extra_len)
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            return None
        offset = f.tell()
    if dtype.hasobject or int(np.prod(shape)) == 0:
        return None
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")


def load_features(path: str) -> dict:
    """Arrays of a features .npz (qf, gf, q_pids, g_pids, q_camids, g_camids).

    Uncompressed members (np.savez) are memory-mapped rather than copied, which saves most of
    the loading time of a large gallery; compressed ones (np.savez_compressed) are read."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"features file {path} does not exist")
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise EvaluationInputError(f"{path} is not a readable .npz file ({e}); save it with {_SAVE_HINT}")
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise EvaluationInputError(f"{path} holds a single array, not an .npz archive; save it with {_SAVE_HINT}")
    missing = [k for k in FEATURE_KEYS if k not in data.files]
    if missing:
        raise EvaluationInputError(f"{path} lacks array(s) {missing}; it has {sorted(data.files)}. Expected: "
                                   f"qf (Q x d), gf (G x d), q_pids, g_pids, q_camids, g_camids (int64)")
    out = {}
    members = {os.path.splitext(i.filename)[0]: i for i in data.zip.infolist()}   # the archive np.load read
    for k in FEATURE_KEYS + tuple(k for k in OPTIONAL_KEYS if k in members):
        try:
            arr = _mapped_member(path, members[k]) if k in members else None
        except (ValueError, OSError, struct.error):
            arr = None
        out[k] = arr if arr is not None else data[k]
    data.close()
    return out


def summary_table(res: dict, title: str = "") -> str:
    """The metrics as a small text table (percentages)."""
    lines = [title] if title else []
    lines.append(f"{'mAP':>8}{'R-1':>8}{'R-5':>8}{'R-10':>8}{'mINP':>8}   queries (valid / skipped)")
    lines.append(f"{100 * res['mAP']:8.2f}{100 * res['rank1']:8.2f}{100 * res['rank5']:8.2f}"
                 f"{100 * res['rank10']:8.2f}{100 * res['mINP']:8.2f}   "
                 f"{res['num_valid_queries']} / {res['num_skipped_queries']}")
    return "\n".join(lines)


def write_results(out_dir: str, res: dict, **meta) -> str:
    """Write ``out_dir/results.json`` atomically; returns its path."""
    os.makedirs(out_dir, exist_ok=True)
    doc = {k: res[k] for k in ("mAP", "rank1", "rank5", "rank10", "mINP", "num_valid_queries",
                               "num_skipped_queries")}
    doc["cmc"] = [float(x) for x in res["cmc"]]
    doc["tie_rule"] = TIE_RULE
    doc.update({k: res[k] for k in ("num_tied_pairs", "num_negative_pairs") if k in res})
    doc.update(meta)
    path = os.path.join(out_dir, "results.json")
    atomic_write_text(path, json.dumps(doc, indent=2) + "\n")
    return path


def extract_split(model, items, name: str, batch_size: int, device: Optional[str]):
    """Features of (path, pid, camid) items; undecodable images are reported and dropped."""
    import reidzoo
    paths = [p for p, _, _ in items]
    feats, failed = reidzoo.extract_features(model, paths, batch_size=batch_size, device=device,
                                             return_failed=True, desc=f"{name} features")
    keep = np.ones(len(items), bool)
    keep[failed] = False
    if failed:
        shown = "\n  ".join(paths[i] for i in failed[:20])
        more = f"\n  ... and {len(failed) - 20} more" if len(failed) > 20 else ""
        warnings.warn(f"{len(failed)} {name} image(s) could not be decoded and were left out:\n  {shown}{more}")
    kept = [it for it, k in zip(items, keep) if k]
    pids = np.array([pid for _, pid, _ in kept], np.int64)
    cams = np.array([cam for _, _, cam in kept], np.int64)
    return feats[keep], pids, cams, kept, [paths[i] for i in failed]


def run_features(path: str, out_dir: Optional[str] = None, metric: str = "cosine", rerank: bool = False,
                 max_rank: int = 50, progress: bool = True, keep_junk: bool = False) -> dict:
    """Evaluate a saved features file; with ``out_dir`` write results.json and cmc.png.

    Gallery rows of person id -1 are ignored (Market-1501 junk) unless ``keep_junk``; image paths
    listed twice or under two ids are an error."""
    from .features_file import check_paths, ignore_junk
    t0 = time.perf_counter()
    d = load_features(path)
    check_paths(d, path)
    num_gallery_file = int(len(d["gf"]))
    d, junk = ignore_junk(d, keep_junk, source=path)
    if out_dir:
        from .plots import preload
        preload()
    res = evaluate(d["qf"], d["gf"], d["q_pids"], d["g_pids"], d["q_camids"], d["g_camids"],
                   metric=metric, rerank=rerank, max_rank=max_rank, progress=progress)
    if junk:
        res["junk"] = junk
    if out_dir:
        name = os.path.splitext(os.path.basename(path))[0]
        write_results(out_dir, res, model=None, dataset=name, features=os.path.abspath(path), metric=metric,
                      rerank=rerank, num_query=int(len(d["qf"])), num_gallery=int(len(d["gf"])),
                      num_gallery_in_file=num_gallery_file, junk=junk or {"rule": JUNK_RULE, "gallery_rows": 0},
                      seconds=round(time.perf_counter() - t0, 3))
        from .plots import plot_cmc
        plot_cmc(res["cmc"], os.path.join(out_dir, "cmc.png"), title=f"CMC: {name}")
    return res


def write_features(path: str, **arrays: np.ndarray) -> str:
    """Write arrays as an uncompressed .npz (memory-mapped by load_features), atomically; returns `path`."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)  # a file object: np.savez would append .npz to a path without it
    return path


@dataclass
class DatasetFeatures:
    """A model's query and gallery features on a dataset, with the items they belong to."""

    dataset: object                # the ReIDDataset read
    arrays: Dict[str, np.ndarray]  # FEATURE_KEYS: what a features .npz holds
    query: list                    # (path, pid, camid) of the rows of qf
    gallery: list                  # (path, pid, camid) of the rows of gf
    failed: List[str]              # images that could not be decoded (left out)


def extract_dataset(model, ds, batch_size: int = 64, device: Optional[str] = None) -> DatasetFeatures:
    """Features of a loaded model on the query and gallery splits of a ReIDDataset."""
    qf, q_pids, q_cams, q_items, q_failed = extract_split(model, ds.query, "query", batch_size, device)
    gf, g_pids, g_cams, g_items, g_failed = extract_split(model, ds.gallery, "gallery", batch_size, device)
    arrays = dict(qf=qf, gf=gf, q_pids=q_pids, g_pids=g_pids, q_camids=q_cams, g_camids=g_cams)
    return DatasetFeatures(ds, arrays, q_items, g_items, q_failed + g_failed)


def run_model(model_name: str, dataset: str, root: Optional[str] = None, weights: Optional[str] = None,
              out_dir: Optional[str] = None, metric: str = "cosine", rerank: bool = False, max_rank: int = 50,
              batch_size: int = 64, device: Optional[str] = None, num_show: int = 8,
              save_features: bool = False) -> dict:
    """Extract features of a zoo model (name or hub folder) on a dataset and evaluate them."""
    import reidzoo
    from reidzoo.data import build_dataset
    t0 = time.perf_counter()
    ds = build_dataset(dataset, root)  # a layout error before any model loading
    model = reidzoo.load(model_name, weights=weights, device=device or "cpu")
    feats = extract_dataset(model, ds, batch_size, device)
    q_items, g_items = feats.query, feats.gallery
    qf, gf = feats.arrays["qf"], feats.arrays["gf"]
    q_pids, g_pids, q_cams, g_cams = (feats.arrays[k] for k in ("q_pids", "g_pids", "q_camids", "g_camids"))
    res = evaluate(qf, gf, q_pids, g_pids, q_cams, g_cams, metric=metric, rerank=rerank, max_rank=max_rank,
                   progress=True)
    res["failed_images"] = feats.failed
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        write_results(out_dir, res, model=model_name, weights=weights, dataset=ds.name,
                      dataset_dir=str(ds.dataset_dir), metric=metric, rerank=rerank,
                      num_query=len(q_items), num_gallery=len(g_items), failed_images=res["failed_images"],
                      junk={"rule": "the dataset reader drops junk images (person id -1)"},
                      seconds=round(time.perf_counter() - t0, 3))
        if save_features:
            write_features(os.path.join(out_dir, "features.npz"), **feats.arrays)
        from .plots import plot_cmc, plot_ranked
        from .retrieval import ranked_lists
        plot_cmc(res["cmc"], os.path.join(out_dir, "cmc.png"), title=f"CMC: {model_name} on {ds.name}")
        show = np.linspace(0, len(q_items) - 1, min(num_show, len(q_items))).round().astype(int)
        lists = ranked_lists(qf, gf, q_pids, g_pids, q_cams, g_cams, k=10, metric=metric, queries=show)
        plot_ranked(q_items, g_items, lists, show, os.path.join(out_dir, "ranked.png"))
    return res
