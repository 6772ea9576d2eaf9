"""CION's identity-guided self-distillation loss, vectorised over the instance pairs of each identity."""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


def _atleast_fp32(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.promote_types(x.dtype, torch.float32))


def _dist_on() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class IdentityDistillationLoss(nn.Module):
    """DINO's cross-view distillation, extended to every ordered pair of images of one identity.

    For each teacher global view g and student view v != g (docs/design.md, and CION's public release):
    ``[mean_b CE(q_g[b], s_v[b]) + sum_{i != j} mean_p CE(q_g[p, i], s_v[p, j])] / (K(K-1)+1)``,
    averaged over the (g, v) pairs. Inputs are view-major, images identity-major within a view.
    """

    def __init__(self, out_dim: int, ncrops: int, teacher_temp: float = 0.04, student_temp: float = 0.1,
                 center_momentum: float = 0.9, centering: str = "ema", sinkhorn_iterations: int = 3):
        super().__init__()
        if ncrops < 2:
            raise ValueError(f"ncrops={ncrops}: the student needs at least the 2 global views")
        if centering not in ("ema", "sinkhorn"):
            raise ValueError(f"centering={centering!r}: choose ema (the paper's) or sinkhorn")
        self.centering = centering
        self.sinkhorn_iterations = sinkhorn_iterations
        self.last_teacher_probs: torch.Tensor | None = None  # for the collapse diagnostics
        self.out_dim = out_dim
        self.ncrops = ncrops
        self.teacher_temp = teacher_temp
        self.student_temp = student_temp
        self.center_momentum = center_momentum
        self.register_buffer("center", torch.zeros(1, out_dim))

    def forward(self, student_output: torch.Tensor, teacher_output: torch.Tensor, num_instances: int,
                teacher_temp: float | None = None) -> torch.Tensor:
        """Scalar loss; updates `center` from the teacher output (all-reduced across ranks)."""
        V, K = self.ncrops, int(num_instances)
        if student_output.shape[0] % V or teacher_output.shape[0] != 2 * (student_output.shape[0] // V):
            raise ValueError(f"student_output {tuple(student_output.shape)} / teacher_output "
                             f"{tuple(teacher_output.shape)} do not fit ncrops={V} views and 2 global views")
        B = student_output.shape[0] // V
        if K < 1 or B % K:
            raise ValueError(f"batch of {B} images per view is not a whole number of identities of K={K}")
        P = B // K
        tau_t = self.teacher_temp if teacher_temp is None else teacher_temp

        # float32 for the softmaxes even under autocast: a 65k-way softmax in half precision loses the loss.
        # (Splitting log s into x - logsumexp(x) to avoid this (V,B,D) tensor was measured 2.8x slower on CPU.)
        ls = F.log_softmax(_atleast_fp32(student_output) / self.student_temp, dim=-1).view(V, P, K, -1)
        q = self.teacher_targets(teacher_output, tau_t)
        self.last_teacher_probs = q
        q = q.view(2, P, K, -1)
        # (2,V): sum_b q_g[b].log s_v[b]   and   sum_p (sum_i q_g[p,i]).(sum_j log s_v[p,j])
        diag = q.reshape(2, -1) @ ls.reshape(V, -1).T
        full = q.sum(2).reshape(2, -1) @ ls.sum(2).reshape(V, -1).T
        # CE over all images (mean over B) + pairs i != j (sum over pairs, mean over P)
        per_pair = -(diag / B + (full - diag) / P) / (K * (K - 1) + 1)
        mask = torch.ones(2, V, dtype=torch.bool, device=per_pair.device)
        mask[0, 0] = mask[1, 1] = False                               # teacher view == student view
        loss = per_pair[mask].mean()
        self.update_center(teacher_output)
        return loss

    @torch.no_grad()
    def teacher_targets(self, teacher_output: torch.Tensor, teacher_temp: float) -> torch.Tensor:
        """(2B, D) teacher probabilities: softmax after EMA centring, or Sinkhorn-Knopp equipartition."""
        t = _atleast_fp32(teacher_output)
        if self.centering == "sinkhorn":
            return sinkhorn_knopp(t / teacher_temp, self.sinkhorn_iterations)
        return F.softmax((t - self.center) / teacher_temp, dim=-1)

    @torch.no_grad()
    def update_center(self, teacher_output: torch.Tensor) -> None:
        """EMA of the teacher output mean over the global batch (all ranks)."""
        total = _atleast_fp32(teacher_output).sum(dim=0, keepdim=True).to(self.center.dtype)
        count = torch.tensor([float(teacher_output.shape[0])], device=total.device)
        if _dist_on():
            dist.all_reduce(total)
            dist.all_reduce(count)
        self.center.mul_(self.center_momentum).add_(total / count, alpha=1 - self.center_momentum)


@torch.no_grad()
def sinkhorn_knopp(logits: torch.Tensor, iterations: int = 3) -> torch.Tensor:
    """Soft assignments of the (N, D) rows (all ranks together) whose D columns get equal total mass.

    Alternates column and row normalisation of exp(logits) (SwAV / DINOv2's teacher centring); each
    row of the result sums to 1. Under DDP the column sums and the sample count are all-reduced, so
    the equipartition holds over the global batch.
    """
    x = logits.float()
    m = x.max()
    if _dist_on():
        dist.all_reduce(m, op=dist.ReduceOp.MAX)
    q = torch.exp(x - m)                                      # (N, D); the shift cancels in the normalisations
    n = torch.tensor([float(q.shape[0])], device=q.device)
    if _dist_on():
        dist.all_reduce(n)
    d = q.shape[1]
    for _ in range(max(int(iterations), 1)):
        col = q.sum(0, keepdim=True)
        if _dist_on():
            dist.all_reduce(col)
        q = q / col.clamp_min(1e-30) / d                      # every column holds 1/D of the mass
        q = q / q.sum(1, keepdim=True).clamp_min(1e-30) / n   # every row holds 1/N of it
    return q * n


def identity_loss_direct(student_output: torch.Tensor, teacher_output: torch.Tensor, center: torch.Tensor,
                         ncrops: int, num_instances: int, teacher_temp: float = 0.04,
                         student_temp: float = 0.1) -> torch.Tensor:
    """The loss exactly as the formula reads (Python loops over views and instance pairs); for checks only."""
    K = num_instances
    s_views = (_atleast_fp32(student_output) / student_temp).chunk(ncrops)
    q_views = F.softmax((_atleast_fp32(teacher_output) - center) / teacher_temp, dim=-1).detach().chunk(2)
    total, n_terms = 0.0, 0
    for g, q in enumerate(q_views):
        for v, s in enumerate(s_views):
            if v == g:
                continue
            ls = F.log_softmax(s, dim=-1)
            term = (-q * ls).sum(-1).mean()
            for i in range(K):
                for j in range(K):
                    if i != j:  # image i of every identity (teacher) vs image j (student)
                        term = term + (-q[i::K] * ls[j::K]).sum(-1).mean()
            total = total + term / (K * (K - 1) + 1)
            n_terms += 1
    return total / n_terms
