"""Evaluate re-ID features: a zoo model on Market-1501 / MSMT17 / your folder, or saved features (.npz).

Examples:
  # a zoo model (name or hub folder) on Market-1501 under ./datasets (or $REIDZOO_DATA)
  reidzoo evaluate --model convnext_tiny --dataset market1501 --out runs/eval_convnext
  reidzoo evaluate --model ./hub/my_model --weights ckpt.pth --dataset msmt17 --root /data --rerank
  reidzoo evaluate --model exports/r50ibn.onnx --dataset market1501     # onnxruntime (reidzoo export --format onnx)

  # saved features: arrays qf (Q x d), gf (G x d), q_pids, g_pids, q_camids, g_camids
  # (`reidzoo extract --dataset ...` writes them)
  reidzoo evaluate --features feats.npz --out runs/eval_feats --metric euclidean

Protocol: gallery images of the query's person taken by the query's camera are ignored; queries
without a valid match are skipped and counted; with --features, gallery rows of person id -1
(Market-1501 junk) are ignored unless --keep-junk. Distances are exact float64, and equal distances
are ordered by gallery index (never in the model's favour); a warning says when many tie.
--out writes results.json (mAP, rank1/5/10, mINP as fractions, CMC, counts, the tie and junk
rules), cmc.png and, with images, ranked.png (top-10 per query, green/red).
"""
from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

from .argtypes import device, positive_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `reidzoo evaluate`."""
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model",
                     help="zoo model name (see `reidzoo zoo list`), a hub folder or an exported .onnx file")
    src.add_argument("--features", metavar="FILE.npz", help="evaluate saved features instead of a model")
    p.add_argument("--weights", help="checkpoint for --model (default: the model's released weights)")
    from reidzoo.data import dataset_names
    p.add_argument("--dataset", default="market1501",
                   help=f"{', '.join(dataset_names())}, or a folder of your own (see docs/evaluation.md)")
    p.add_argument("--root", help="data root holding the dataset folder (default: $REIDZOO_DATA or ./datasets)")
    p.add_argument("--out", help="output folder for results.json and the PNGs")
    p.add_argument("--metric", choices=("cosine", "euclidean"), default="cosine",
                   help="cosine on L2-normalised features (default) or Euclidean distance")
    p.add_argument("--rerank", action="store_true", help="k-reciprocal re-ranking (k1=20, k2=6, lambda=0.3)")
    p.add_argument("--max-rank", type=positive_int, default=50, help="CMC up to this rank (default 50)")
    p.add_argument("--batch-size", type=positive_int, default=64, help="feature extraction batch size")
    p.add_argument("--device", type=device, default=None, help="cpu or cuda (default: cpu)")
    p.add_argument("--keep-junk", action="store_true",
                   help="with --features: keep gallery rows of person id -1 (default: ignored, as Market-1501's "
                        "protocol does)")
    p.add_argument("--save-features", action="store_true", help="also write OUT/features.npz (with --model)")


def run(a: argparse.Namespace) -> int:
    """Evaluate and print the summary table."""
    if a.model:
        from reidzoo.loading import check_source
        check_source(a.model, a.weights)  # before the dataset is read
    elif Path(a.features).is_file() and not zipfile.is_zipfile(a.features):  # np.savez writes a zip
        raise ValueError(f"{a.features} is not an .npz file (empty, truncated or something else); "
                         f"write it with `reidzoo extract` or np.savez")
    from reidzoo.evaluation.report import run_features, run_model, summary_table
    how = f"{a.metric}{', re-ranked' if a.rerank else ''}"
    if a.features:
        res = run_features(a.features, a.out, metric=a.metric, rerank=a.rerank, max_rank=a.max_rank,
                           keep_junk=a.keep_junk)
        title = f"{a.features} ({how})"
    else:
        res = run_model(a.model, a.dataset, root=a.root, weights=a.weights, out_dir=a.out, metric=a.metric,
                        rerank=a.rerank, max_rank=a.max_rank, batch_size=a.batch_size, device=a.device,
                        save_features=a.save_features)
        title = f"{a.model} on {a.dataset} ({how})"
    print(summary_table(res, title))
    if a.out:
        print(f"wrote {a.out}/results.json")
    return 0
