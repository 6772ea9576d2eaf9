"""Speed of IdentityDistillationLoss vs. the direct formulation (loops over instance pairs).

    python benchmarks/bench_loss.py                 # K=8, D=65536, B=64, 10 views (the issue's case)
    python benchmarks/bench_loss.py --dim 4096      # quicker

Prints the forward+backward time of each, their ratio, and the value / gradient agreement.
"""
from __future__ import annotations

import argparse
import time

import torch

from cion.pretrain.loss import IdentityDistillationLoss, identity_loss_direct


def _time(fn, repeats: int) -> float:
    fn()  # warm-up (allocator, kernels)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dim", type=int, default=65536, help="head output dimension D")
    ap.add_argument("--batch", type=int, default=64, help="images per view B (= P*K)")
    ap.add_argument("--instances", type=int, default=8, help="images per identity K")
    ap.add_argument("--views", type=int, default=10, help="student views (2 global + locals)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    student = torch.randn(args.views * args.batch, args.dim, generator=g) * 3
    teacher = torch.randn(2 * args.batch, args.dim, generator=g) * 3
    ours = IdentityDistillationLoss(args.dim, args.views)
    ours.center.normal_(generator=g)
    center = ours.center.clone()

    def run_ours():
        s = student.clone().requires_grad_(True)
        ours.center.copy_(center)  # same center on every call
        loss = ours(s, teacher, args.instances)
        loss.backward()
        return loss.detach(), s.grad

    def run_direct():
        s = student.clone().requires_grad_(True)
        loss = identity_loss_direct(s, teacher, center, args.views, args.instances)
        loss.backward()
        return loss.detach(), s.grad

    (lo, go), (ld, gd) = run_ours(), run_direct()
    rel = abs(lo.item() - ld.item()) / abs(ld.item())
    grad_err = ((go - gd).abs().max() / gd.abs().max()).item()
    t_ours, t_direct = _time(run_ours, args.repeats), _time(run_direct, args.repeats)
    print(f"K={args.instances} D={args.dim} B={args.batch} views={args.views} threads={torch.get_num_threads()}")
    print(f"loss ours {lo.item():.6f}  direct {ld.item():.6f}  rel diff {rel:.2e}  max grad diff (rel) {grad_err:.2e}")
    print(f"forward+backward  ours {t_ours * 1e3:.1f} ms  direct {t_direct * 1e3:.1f} ms  "
          f"speed-up {t_direct / t_ours:.1f}x")


if __name__ == "__main__":
    main()
