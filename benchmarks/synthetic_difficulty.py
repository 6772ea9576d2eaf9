#!/usr/bin/env python
"""How hard is the synthetic re-ID world? mAP of three matchers on a synthetic Market-style benchmark.

1. colour histogram: HSV histograms of three horizontal bands (head, upper body, legs);
2. untrained ResNet-18 (``reidzoo.create_model("resnet18")``, random weights);
3. the same ResNet-18 after a short supervised fine-tune on the train split
   (cross-entropy with label smoothing + batch-hard triplet, P x K batches, ~100 iterations on CPU).

A good world is learnable (3 far above 1 and 2) and not solved by colour (1 well below 3).
Images are used at their native 128x64 for all three so the CPU run stays at a few minutes.

    python benchmarks/synthetic_difficulty.py                      # generates the default benchmark
    python benchmarks/synthetic_difficulty.py --root DIR --iters 300 --json out.json
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

import reidzoo
from reidzoo.data.synthetic import make_market_like

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
_NAME = re.compile(r"^(-1|\d{4})_c(\d)")

Item = Tuple[str, int, int]


def load_split(root: Path) -> Tuple[List[Item], List[Item], List[Item]]:
    """(train, query, gallery) as (path, pid, 0-based camera), junk dropped, via the project reader if present."""
    try:
        from reidzoo.data import Market1501  # the evaluation engineer's reader
        ds = Market1501(root)
        return list(ds.train), list(ds.query), list(ds.gallery)
    except ImportError:
        pass

    def parse(d: str) -> List[Item]:
        out = []
        for f in sorted((root / d).glob("*.jpg")):
            pid, cam = _NAME.match(f.name).groups()
            if int(pid) != -1:
                out.append((str(f), int(pid), int(cam) - 1))
        return out
    return parse("bounding_box_train"), parse("query"), parse("bounding_box_test")


def map_score(qf, gf, q, g) -> Tuple[float, float]:
    """(mAP, rank-1) under the Market protocol (same person + same camera ignored)."""
    qp, qc = np.array([x[1] for x in q]), np.array([x[2] for x in q])
    gp, gc = np.array([x[1] for x in g]), np.array([x[2] for x in g])
    try:
        from reidzoo.evaluation import evaluate
        r = evaluate(qf, gf, qp, gp, qc, gc, metric="cosine")
        return float(r["mAP"]), float(r["rank1"])
    except ImportError:
        pass
    qn = qf / np.linalg.norm(qf, axis=1, keepdims=True).clip(1e-12)
    gn = gf / np.linalg.norm(gf, axis=1, keepdims=True).clip(1e-12)
    order = np.argsort(-(qn @ gn.T), axis=1, kind="stable")
    aps, r1 = [], []
    for i in range(len(qf)):
        o = order[i]
        keep = ~((gp[o] == qp[i]) & (gc[o] == qc[i]))
        match = (gp[o] == qp[i])[keep]
        if not match.any():
            continue
        hits = np.cumsum(match)
        aps.append(float((hits[match] / (np.flatnonzero(match) + 1)).mean()))
        r1.append(float(match[0]))
    return float(np.mean(aps)), float(np.mean(r1))


def read_images(items: List[Item]) -> np.ndarray:
    """(N, 128, 64, 3) uint8 BGR."""
    return np.stack([cv2.resize(cv2.imread(p), (64, 128)) for p, _, _ in items])


def colour_histograms(imgs: np.ndarray) -> np.ndarray:
    """Concatenated HSV histograms of three horizontal bands, square-rooted (Hellinger)."""
    feats = []
    for im in imgs:
        hsv = cv2.cvtColor(im, cv2.COLOR_BGR2HSV)
        parts = []
        for y0, y1 in ((0, 24), (24, 68), (68, 128)):
            h = cv2.calcHist([hsv[y0:y1]], [0, 1, 2], None, [12, 4, 4], [0, 180, 0, 256, 0, 256]).ravel()
            parts.append(h / max(h.sum(), 1.0))
        feats.append(np.sqrt(np.concatenate(parts)))
    return np.asarray(feats, np.float32)


def to_tensor(imgs: np.ndarray) -> torch.Tensor:
    x = (imgs[..., ::-1].astype(np.float32) / 255.0 - MEAN) / STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


@torch.no_grad()
def embed(model: torch.nn.Module, x: torch.Tensor, batch: int = 128) -> np.ndarray:
    model.eval()
    out = [model(x[i:i + batch]) for i in range(0, len(x), batch)]
    return torch.cat(out).numpy()


def _augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Flip, pad-and-crop, per-channel gain: the usual re-ID recipe, vectorised over the batch."""
    n = len(x)
    flip = torch.rand(n, generator=g) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    p = F.pad(x, (6, 6, 10, 10), mode="replicate")
    dy, dx = torch.randint(0, 21, (1,), generator=g).item(), torch.randint(0, 13, (1,), generator=g).item()
    x = p[:, :, dy:dy + x.shape[2], dx:dx + x.shape[3]]
    gain = 1.0 + 0.2 * (torch.rand(n, 3, 1, 1, generator=g) - 0.5)
    return x * gain


def _batch_hard_triplet(f: torch.Tensor, y: torch.Tensor, margin: float = 0.3) -> torch.Tensor:
    d = torch.cdist(f, f)
    same = y[:, None] == y[None, :]
    hardest_pos = (d * same).max(1).values
    hardest_neg = (d + 1e6 * same).min(1).values
    return F.relu(hardest_pos - hardest_neg + margin).mean()


def finetune(model: torch.nn.Module, x: torch.Tensor, labels: np.ndarray, iters: int, seed: int,
             p: int = 8, k: int = 4, lr: float = 1e-3) -> torch.nn.Module:
    """A minimal supervised re-ID fine-tune: BNNeck + CE (label smoothing) + batch-hard triplet."""
    torch.manual_seed(seed)
    ids, y = np.unique(labels, return_inverse=True)
    dim = model.num_features
    neck = torch.nn.BatchNorm1d(dim)
    neck.bias.requires_grad_(False)
    head = torch.nn.Linear(dim, len(ids), bias=False)
    params = list(model.parameters()) + list(neck.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW([q for q in params if q.requires_grad], lr=lr, weight_decay=5e-4)
    rng = np.random.default_rng(seed)
    by_id = [np.flatnonzero(y == i) for i in range(len(ids))]
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=iters, pct_start=0.15)
    g = torch.Generator().manual_seed(seed)
    yt = torch.from_numpy(y)
    bar = tqdm(total=iters, desc="fine-tune", unit="it")
    model.train()
    neck.train()
    for _ in range(iters):
        chosen = rng.choice(len(ids), size=min(p, len(ids)), replace=False)
        idx = np.concatenate([rng.choice(by_id[c], size=k, replace=len(by_id[c]) < k) for c in chosen])
        f = model(_augment(x[idx], g))
        logits = head(neck(f))
        loss = F.cross_entropy(logits, yt[idx], label_smoothing=0.1) + _batch_hard_triplet(f, yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
        bar.update(1)
    bar.close()
    model.eval()
    return model


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, help="existing Market-style folder (default: generate one in a temp dir)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ids-train", type=int, default=100)
    ap.add_argument("--ids-test", type=int, default=100)
    ap.add_argument("--images-per-id", type=int, default=10)
    ap.add_argument("--iters", type=int, default=100, help="fine-tune iterations of P=8 ids x K=4 images")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-finetune", action="store_true", help="only the two untrained matchers (quick look)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.root
        if root is None:
            root = Path(tmp) / "market"
            t = time.perf_counter()
            make_market_like(root, args.ids_train, args.ids_test, 6, args.images_per_id, args.seed)
            print(f"generated {root} in {time.perf_counter() - t:.1f}s")
        train, query, gallery = load_split(root)
        xtr, xq, xg = read_images(train), read_images(query), read_images(gallery)
    print(f"train {len(train)} images / {len({t[1] for t in train})} ids, query {len(query)}, gallery {len(gallery)}")
    rows = []
    t = time.perf_counter()
    rows.append(("colour histogram (HSV, 3 bands)",) + map_score(colour_histograms(xq), colour_histograms(xg), query, gallery)
                + (time.perf_counter() - t,))
    print("  %s: mAP %.3f rank-1 %.3f (%.0fs)" % rows[-1], flush=True)
    tq, tg, ttr = to_tensor(xq), to_tensor(xg), to_tensor(xtr)
    torch.manual_seed(args.seed)  # the random initialisation is part of the result
    model = reidzoo.create_model("resnet18")
    t = time.perf_counter()
    rows.append(("ResNet-18, untrained",) + map_score(embed(model, tq), embed(model, tg), query, gallery)
                + (time.perf_counter() - t,))
    print("  %s: mAP %.3f rank-1 %.3f (%.0fs)" % rows[-1], flush=True)
    if args.no_finetune:
        for name, m, r1, s in rows:
            print(f"| {name} | {100 * m:.1f} | {100 * r1:.1f} | {s:.0f} |")
        return 0
    t = time.perf_counter()
    model = finetune(model, ttr, np.array([x[1] for x in train]), args.iters, args.seed)
    rows.append((f"ResNet-18, fine-tuned ({args.iters} iterations of 32 images)",) + map_score(embed(model, tq), embed(model, tg), query, gallery)
                + (time.perf_counter() - t,))
    print(f"\n| matcher | mAP | rank-1 | seconds |\n|---|---|---|---|")
    for name, m, r1, s in rows:
        print(f"| {name} | {100 * m:.1f} | {100 * r1:.1f} | {s:.0f} |")
    best = rows[2][1]
    print(f"\nfine-tuned / colour-histogram mAP ratio: {best / max(rows[0][1], 1e-9):.2f}; "
          f"fine-tuned / untrained: {best / max(rows[1][1], 1e-9):.2f}")
    if args.json:
        args.json.write_text(json.dumps({"seed": args.seed, "ids_train": args.ids_train, "ids_test": args.ids_test,
                                         "images_per_id": args.images_per_id, "iters": args.iters,
                                         "results": [dict(matcher=n, mAP=m, rank1=r, seconds=s) for n, m, r, s in rows]},
                                        indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
