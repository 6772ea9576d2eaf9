"""Evaluator benchmark: `reidzoo evaluate --features` vs fast-reid 1.4.0 (distance matrix + Cython
`evaluate_rank`), each a whole process on the same synthetic features, at Market-1501 and MSMT17
scale (d = 768). Prints wall time (median of --repeats alternating runs), peak memory (max RSS),
their ratios and the metric differences.

    python benchmarks/bench_eval.py                       # both scales
    python benchmarks/bench_eval.py --scales market1501   # the cheap one only

fast-reid is pip-installed (no deps) into a throw-away folder (default /tmp/fastreid_pkg) and its
Cython ranking module is built there with a throw-away Cython; nothing enters the project's env.
The MSMT17-scale fast-reid process needs ~12 GB of memory, which pushes torch's libraries out of
the page cache; so before each timed process an untimed one imports torch and reads the features
file, and neither side pays for reading from disk what the other evicted.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from eval_synthetic_features import SCALES, write_npz  # noqa: E402


def ensure_fastreid(pkg_dir: str) -> None:
    """Install fastreid==1.4.0 into pkg_dir and build its Cython rank module (once)."""
    cylib = os.path.join(pkg_dir, "fastreid", "evaluation", "rank_cylib")
    if os.path.isdir(cylib) and any(f.startswith("rank_cy") and f.endswith(".so") for f in os.listdir(cylib)):
        return
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    subprocess.run(pip + ["--no-deps", "--target", pkg_dir, "fastreid==1.4.0"], check=True)
    build_deps = os.path.join(pkg_dir, "_build_deps")
    subprocess.run(pip + ["--target", build_deps, "cython", "setuptools"], check=True)
    env = dict(os.environ, PYTHONPATH=build_deps)
    subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=cylib, env=env, check=True,
                   stdout=subprocess.DEVNULL)


def _oom_first() -> None:
    # if memory runs out, the kernel should stop the benchmark's process, not another one
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass


def warm_cache(feats: str) -> None:
    """Bring torch's libraries and the features file into the page cache (untimed)."""
    subprocess.run([sys.executable, "-c", "import numpy, torch"], check=True, cwd=ROOT)
    with open(feats, "rb") as f:
        while f.read(1 << 24):
            pass


def timed(cmd) -> tuple:
    """Run a command; return (wall seconds, peak RSS in GiB) of that process and its children."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT,
                            env=dict(os.environ, HF_HUB_OFFLINE="1"), preexec_fn=_oom_first)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode()
    proc.stderr.close()
    if status != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err[-3000:]}")
    return wall, usage.ru_maxrss / 2 ** 20


def run_scale(scale: str, work: str, fastreid_dir: str, skip_fastreid: bool, repeats: int = 3) -> dict:
    """Time both evaluators `repeats` times, alternating; the row holds every time and the medians."""
    feats = os.path.join(work, f"{scale}_d768.npz")
    if not os.path.exists(feats):
        print(f"[{scale}] writing synthetic features {SCALES[scale][:2]} x 768 ...", flush=True)
        write_npz(feats, scale)
    out = os.path.join(work, f"{scale}_ours")
    fr_json = os.path.join(work, f"{scale}_fastreid.json")
    sides = {"ours": [sys.executable, "-m", "reidzoo", "evaluate", "--features", feats, "--out", out]}
    if not skip_fastreid:
        sides["fastreid"] = [sys.executable, os.path.join(HERE, "eval_fastreid_side.py"), feats, fr_json,
                             "--fastreid", fastreid_dir]
    times = {k: [] for k in sides}
    for r in range(repeats):
        for side, cmd in sides.items():
            print(f"[{scale}] {side} ({r + 1}/{repeats}) ...", flush=True)
            warm_cache(feats)
            times[side].append(timed(cmd))
    ours = json.load(open(os.path.join(out, "results.json")))
    row = {"scale": scale, "ours": ours}
    for side, runs in times.items():
        row.update({f"{side}_runs": runs, f"{side}_s": float(np.median([t for t, _ in runs])),
                    f"{side}_gib": max(m for _, m in runs)})
    if not skip_fastreid:
        fr = json.load(open(fr_json))
        row.update(fastreid=fr,
                   diff={k: abs(ours[k] - fr[k]) for k in ("mAP", "mINP", "rank1", "rank5", "rank10")},
                   cmc_diff=max(abs(a - b) for a, b in zip(ours["cmc"], fr["cmc"])))
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scales", nargs="+", default=["market1501", "msmt17"], choices=sorted(SCALES))
    p.add_argument("--fastreid-dir", default="/tmp/fastreid_pkg")
    p.add_argument("--workdir", default="/tmp/reidzoo_bench_eval")
    p.add_argument("--skip-fastreid", action="store_true", help="time only our evaluator")
    p.add_argument("--repeats", type=int, default=3, help="timed runs of each side, alternating; medians reported")
    a = p.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    if not a.skip_fastreid:
        ensure_fastreid(a.fastreid_dir)
    rows = []
    for s in a.scales:
        load0 = os.getloadavg()[0]
        rows.append(run_scale(s, a.workdir, a.fastreid_dir, a.skip_fastreid, a.repeats))
        rows[-1]["load_average"] = (load0, os.getloadavg()[0])
        with open(os.path.join(a.workdir, "bench_eval.json"), "w") as f:     # keep what is done
            json.dump(rows, f, indent=1)
    print(f"\nmachine: {os.cpu_count()} CPUs; 1-min load average before/after each scale: "
          + ", ".join(f"{r['scale']} {r['load_average'][0]:.1f}/{r['load_average'][1]:.1f}" for r in rows))
    print(f"{'scale':<11}{'Q x G':>15}{'ours s':>9}{'ours GiB':>10}{'fast-reid s':>13}{'fr GiB':>8}"
          f"{'speed-up':>10}{'mem ratio':>11}{'|dmAP|':>10}{'|dmINP|':>10}{'|dCMC|':>10}")
    for r in rows:
        nq, ng = SCALES[r["scale"]][:2]
        line = f"{r['scale']:<11}{f'{nq} x {ng}':>15}{r['ours_s']:9.2f}{r['ours_gib']:10.2f}"
        if "fastreid_s" in r:
            line += (f"{r['fastreid_s']:13.2f}{r['fastreid_gib']:8.2f}{r['fastreid_s'] / r['ours_s']:9.1f}x"
                     f"{r['ours_gib'] / r['fastreid_gib']:11.3f}{r['diff']['mAP']:10.1e}{r['diff']['mINP']:10.1e}"
                     f"{r['cmc_diff']:10.1e}")
        print(line)
        print(f"{'':<11}ours: mAP {100 * r['ours']['mAP']:.2f}  R1 {100 * r['ours']['rank1']:.2f}  "
              f"mINP {100 * r['ours']['mINP']:.2f}")
        for side in ("ours", "fastreid"):
            if f"{side}_runs" in r:
                print(f"{'':<11}{side} runs (s): " + " / ".join(f"{t:.2f}" for t, _ in r[f"{side}_runs"]))
    print("times: median of the runs; speed-up: ratio of the medians; memory: the largest peak RSS")


if __name__ == "__main__":
    main()
