#!/usr/bin/env python
"""Scale of cion.denoise on synthetic feature vectors with known identities (no images).

For each size a child process generates the corpus (about 25 crops per tracklet, 20 tracklets per
video, d = 256: 1M crops = 2,000 videos, ~40k tracklets) and saves it as a features .npz; a second
child process then runs the features-only path end to end (load, calibrate, levels 1-3, write
annotations/report/plots) and reports its wall time and peak memory (ru_maxrss of that process
alone). Time per crop relative to the smallest size shows how close to linear the cost is.

    python benchmarks/bench_denoise_scale.py                  # 250k, 500k, 1M (about 10 min in all)
    python benchmarks/bench_denoise_scale.py --sizes 50000 100000 200000
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, os, resource, sys, time
import numpy as np
import torch
torch.set_num_threads({threads})
mode, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
if mode == "make":
    from cion.denoise.synthetic_features import make_feature_corpus
    n = {n}
    t = time.perf_counter()
    s = make_feature_corpus(n_crops=n, n_videos=max(2, n // 500), tracklets_per_video=20, dim={dim}, seed={seed})
    np.save(path + ".identity.npy", s.pop("identity"))
    np.savez(path, **s)
    print(json.dumps({{"make_s": time.perf_counter() - t}}))
else:
    from cion.denoise import build_corpus, cluster_scores, finalize_labels, run_rounds, RoundConfig
    from cion.denoise.inputs import read_features_npz
    from cion.denoise.report import write_outputs
    t = time.perf_counter()
    d = read_features_npz(path)
    corpus = build_corpus(d.pop("features"), d["video"], d["tracklet"], d["file_path"], frame=d["frame"])
    del d
    t_load = time.perf_counter() - t
    res = run_rounds(corpus, [RoundConfig()], log=None, progress=False)[0]
    reason = res.drop_reason.copy()
    final = finalize_labels(res.final, reason)
    write_outputs(out, corpus, [res], final, reason)
    total = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    gt = np.load(path + ".identity.npy")[corpus.source_index]
    q = {{k: cluster_scores(v, gt) for k, v in res.labels.items()}}
    lv = {{e["level"]: e["seconds"] for e in res.report["levels"]}}
    print(json.dumps({{"total_s": total, "load_s": t_load, "levels_s": lv, "peak_gib": peak, "quality": q,
                      "thresholds": res.thresholds, "videos": int(corpus.n_videos),
                      "tracklets": int(corpus.n_tracklets), "identities": int(final.max()) + 1}}))
"""


def child(code: str, *args: str) -> dict:
    """Run `code` in a fresh interpreter so its peak memory is its own."""
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        raise SystemExit(f"child failed ({args[0]})")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[250_000, 500_000, 1_000_000])
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--threads", type=int, default=2, help="torch/BLAS threads (default 2 = the target machine)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the rows to this JSON file")
    a = p.parse_args()
    env_threads = str(a.threads)
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[k] = env_threads
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_denoise_") as tmp:
        for n in a.sizes:
            code = CHILD.format(threads=a.threads, n=n, dim=a.dim, seed=a.seed)
            npz = str(Path(tmp) / f"feats_{n}.npz")
            made = child(code, "make", npz, "-")
            t = time.perf_counter()
            r = child(code, "run", npz, str(Path(tmp) / f"out_{n}"))
            r.update(n=n, make_s=made["make_s"], wall_s=time.perf_counter() - t)
            rows.append(r)
            q = r["quality"]
            print(f"{n:>9,d} crops  {r['videos']:>5d} videos  {r['tracklets']:>6d} tracklets  "
                  f"total {r['total_s']:7.1f}s (load {r['load_s']:.1f}s, L1 {r['levels_s']['level1']:.1f}s, "
                  f"L2 {r['levels_s']['level2']:.1f}s, L3 {r['levels_s']['level3']:.1f}s)  peak {r['peak_gib']:.2f} GiB  "
                  f"pairF1 raw {q['raw']['pair_f1']:.3f} -> L3 {q['level3']['pair_f1']:.3f} "
                  f"(P {q['level3']['pair_precision']:.3f}, R {q['level3']['pair_recall']:.3f})", flush=True)
            for f in Path(tmp).glob(f"feats_{n}*"):
                f.unlink()
    base = rows[0]
    print("\nsize ratio   time ratio   time per crop vs smallest   peak GiB")
    for r in rows:
        sr, tr = r["n"] / base["n"], r["total_s"] / base["total_s"]
        print(f"{sr:10.2f}   {tr:10.2f}   {tr / sr:25.2f}   {r['peak_gib']:8.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
