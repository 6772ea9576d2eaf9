"""The comparison process: fast-reid 1.4.0's distance matrix + its Cython `evaluate_rank`.

Run by bench_eval.py as a separate process (timed with its peak memory):
    python eval_fastreid_side.py FEATURES.npz OUT.json --fastreid /tmp/fastreid_pkg [--metric cosine]
fast-reid is installed into a throw-away folder (see bench_eval.py), never into the project.
"""
import argparse
import importlib.util
import json
import os
import sys
import types


def import_fastreid(pkg_dir: str):
    """Import fast-reid's distance and rank modules without its package __init__s (which need
    detectron-style dependencies that a throw-away --no-deps install does not have)."""
    base = os.path.join(pkg_dir, "fastreid")
    for name, sub in (("fastreid", ""), ("fastreid.utils", "utils"), ("fastreid.evaluation", "evaluation")):
        m = types.ModuleType(name)
        m.__path__ = [os.path.join(base, sub)]
        sys.modules[name] = m
    from fastreid.evaluation import rank
    from fastreid.utils.compute_dist import build_dist
    if not rank.IS_CYTHON_AVAI:
        raise SystemExit("fast-reid's Cython rank module is not built; see benchmarks/bench_eval.py")
    return build_dist, rank.evaluate_rank


def main():
    p = argparse.ArgumentParser()
    p.add_argument("features")
    p.add_argument("out")
    p.add_argument("--fastreid", required=True)
    p.add_argument("--metric", default="cosine")
    a = p.parse_args()
    import numpy as np
    import torch
    build_dist, evaluate_rank = import_fastreid(a.fastreid)
    d = np.load(a.features)
    qf, gf = torch.from_numpy(d["qf"]), torch.from_numpy(d["gf"])
    dist = build_dist(qf, gf, a.metric)                       # as fast-reid's ReidEvaluator does
    cmc, all_ap, all_inp = evaluate_rank(dist, d["q_pids"], d["g_pids"], d["q_camids"], d["g_camids"])
    res = {"mAP": float(np.mean(all_ap)), "mINP": float(np.mean(all_inp)), "rank1": float(cmc[0]),
           "rank5": float(cmc[4]), "rank10": float(cmc[9]), "cmc": [float(x) for x in cmc],
           "num_valid_queries": int(len(all_ap))}
    with open(a.out, "w") as f:
        json.dump(res, f)


if __name__ == "__main__":
    main()
