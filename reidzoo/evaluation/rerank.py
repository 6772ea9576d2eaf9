"""k-reciprocal re-ranking (Zhong et al., CVPR 2017) in sparse form, plus the dense textbook form.

Both work on the pooled set X = [queries; gallery] (N items) with the original distance D, the
reference distance of `exact.py` (squared Euclidean, or 1 - cos):

1. D is divided row-wise by the row maximum; R(i) is i's neighbour list by D, equal distances in
   index order (a stable argsort).
2. k-reciprocal set K(i) = {j in R(i)[:k1+1] : i in R(j)[:k1+1]}; for each c in K(i) whose own
   half set K'(c) (k = round(k1/2)) shares more than 2/3 of its members with K(i), K'(c) joins K(i).
3. V[i, j] = exp(-D[i, j]) normalised over the expanded K(i); V is averaged over R(i)[:k2].
4. Jaccard distance between query i and gallery j: 1 - m / (2 - m), m = sum_k min(V[i,k], V[j,k]).
5. final = (1 - lambda) * jaccard + lambda * D.

The dense form needs N x N matrices (35 GB at MSMT17). The sparse form only needs each item's
k1+1 nearest neighbours and its farthest distance (`neighbours.py`: FAISS proposes, the
reference distances decide, so the lists equal the dense form's even at near-ties): V has about
N x 30 entries, and a query-gallery pair can only have m > 0 when their V rows share a column,
so the final distance is "(1 - lambda) + lambda * D" plus a sparse correction.
"""
from __future__ import annotations

import warnings
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from .exact import Reference
from .neighbours import exact_neighbours, farthest

DEFAULTS = dict(k1=20, k2=6, lambda_value=0.3)


def _pooled(q: torch.Tensor, g: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(torch.cat([q, g]).numpy(), dtype=np.float32)


def pooled_reference(x: np.ndarray, metric: str) -> Reference:
    """Reference distances among the pooled items (already unit rows / centred, so no centre)."""
    return Reference.build(x, x, metric, np.zeros(x.shape[1], np.float32)).finish()


def _reciprocal_sets(R: np.ndarray, k: int):
    """K(i) for all i as flat (i, j) pairs, from neighbour lists R (N x >=k+1)."""
    n = len(R)
    i = np.repeat(np.arange(n), k + 1)
    j = R[:, :k + 1].ravel()
    key = np.sort(i * n + j)
    back = np.searchsorted(key, j * n + i)
    ok = (back < len(key)) & (key[np.minimum(back, len(key) - 1)] == j * n + i)
    return i[ok], j[ok]


def _expanded_sets(R: np.ndarray, k1: int):
    """Flat unique (i, j) pairs of the expanded k-reciprocal sets."""
    n = len(R)
    ki, kj = _reciprocal_sets(R, k1)
    half = int(np.around(k1 / 2.0))
    hi, hj = _reciprocal_sets(R, half)
    h_start = np.searchsorted(hi, np.arange(n + 1))
    h_len = np.diff(h_start)
    # triples (i, c, h): c in K(i), h in K'(c); test h in K(i)
    reps = h_len[kj]
    ti = np.repeat(ki, reps)
    tc = np.repeat(kj, reps)
    th = hj[np.repeat(h_start[kj], reps) + (np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps))]
    kkey = ki * n + kj                       # sorted, since ki ascending and kj grouped per i
    kkey_sorted = np.sort(kkey)
    pos = np.searchsorted(kkey_sorted, ti * n + th)
    inside = (pos < len(kkey_sorted)) & (kkey_sorted[np.minimum(pos, len(kkey_sorted) - 1)] == ti * n + th)
    pair = np.repeat(np.arange(len(ki)), reps)           # index of (i, c) per triple
    shared = np.bincount(pair, weights=inside, minlength=len(ki))
    accept = shared > 2.0 / 3.0 * h_len[kj]
    acc_rep = accept[pair]
    all_i = np.concatenate([ki, ti[acc_rep]])
    all_j = np.concatenate([kj, th[acc_rep]])
    key = np.unique(all_i * n + all_j)
    return key // n, key % n


def _sparse_v(R: np.ndarray, rowmax: np.ndarray, ref: Reference, k1: int, k2: int) -> torch.Tensor:
    """The query-expanded V as a sparse (N x N) COO tensor."""
    n = len(R)
    vi, vj = _expanded_sets(R, k1)
    d = ref.distances(vi, vj)
    ew = np.exp(-d / rowmax[vi])
    ew /= np.bincount(vi, weights=ew, minlength=n)[vi]
    V = torch.sparse_coo_tensor(torch.from_numpy(np.stack([vi, vj])), torch.from_numpy(ew), (n, n),
                                check_invariants=False).coalesce()
    if k2 == 1:
        return V
    qi = np.repeat(np.arange(n), k2)
    M = torch.sparse_coo_tensor(torch.from_numpy(np.stack([qi, R[:, :k2].ravel()])),
                                torch.full((n * k2,), 1.0 / k2, dtype=torch.float64), (n, n),
                                check_invariants=False).coalesce()
    with warnings.catch_warnings():          # torch flags its sparse-CSR internals as beta
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse.mm(M, V).coalesce()


def _jaccard_overlap(V: torch.Tensor, nq: int, chunk_cols: int = 4096, progress: bool = False):
    """Sparse m[i, j] = sum_k min(V[i,k], V[j,k]) for query rows i < nq and gallery rows j >= nq."""
    Vc = V.coalesce()
    r, c = Vc.indices().numpy()
    v = Vc.values().numpy()
    order = np.lexsort((r, c))
    r, c, v = r[order], c[order], v[order]
    n = V.shape[0]
    col_start = np.searchsorted(c, np.arange(n + 1))
    keys, vals = [], []
    for a in tqdm(range(0, n, chunk_cols), desc="re-ranking (jaccard)", unit="blk", disable=not progress):
        s, e = col_start[a], col_start[min(n, a + chunk_cols)]
        rr, cc, vv = r[s:e], c[s:e], v[s:e]
        isq = rr < nq
        qr, qc, qv = rr[isq], cc[isq], vv[isq]
        gr, gc, gv = rr[~isq], cc[~isq], vv[~isq]
        if not len(qr) or not len(gr):
            continue
        g_start = np.searchsorted(gc, np.arange(a, min(n, a + chunk_cols) + 1))
        g_len = np.diff(g_start)[qc - a]
        reps = g_len
        tot = int(reps.sum())
        if tot == 0:
            continue
        gpos = np.repeat(g_start[qc - a], reps) + (np.arange(tot) - np.repeat(np.cumsum(reps) - reps, reps))
        pi = np.repeat(qr, reps)
        pj = gr[gpos] - nq
        keys.append(pi * (n - nq) + pj)
        vals.append(np.minimum(np.repeat(qv, reps), gv[gpos]))
    if not keys:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    keys = np.concatenate(keys)
    vals = np.concatenate(vals)
    uk, inv = np.unique(keys, return_inverse=True)
    m = np.bincount(inv, weights=vals)
    return uk // (n - nq), uk % (n - nq), m


def rerank_block_scores(q: torch.Tensor, g: torch.Tensor, metric: str = "cosine", k1: int = 20, k2: int = 6,
                        lambda_value: float = 0.3, progress: bool = False) -> Callable[[int, int], torch.Tensor]:
    """A ``block_scores(a, b)`` function giving -final_distance of queries a..b against the gallery."""
    for name, v in (("k1", k1), ("k2", k2)):
        if int(v) < 1:
            raise ValueError(f"{name} must be >= 1, got {v}")
    if not 0.0 <= lambda_value <= 1.0:
        raise ValueError(f"lambda_value must be in [0, 1], got {lambda_value}")
    nq, ng = len(q), len(g)
    x = _pooled(q, g)
    ref = pooled_reference(x, metric)
    k = min(len(x), k1 + 1)
    R = exact_neighbours(x, ref, max(k, k2))
    rowmax = farthest(x, ref)
    V = _sparse_v(R, rowmax, ref, min(k1, len(x) - 1), k2)
    mi, mj, m = _jaccard_overlap(V, nq, progress=progress)
    corr = (1.0 - lambda_value) * m / (2.0 - m)       # final = (1-l) + l*D - corr
    row_start = np.searchsorted(mi, np.arange(nq + 1))
    qmax = torch.from_numpy(rowmax[:nq])
    q64, g64 = q.double(), g.double()
    if metric == "cosine":
        # the reference cosine distance, up to float64 rounding: 1 - q.g / (|q| |g|)
        inv_q = torch.from_numpy(1.0 / ref.q_norm[:nq])
        inv_g = torch.from_numpy(1.0 / ref.q_norm[nq:])
    sq_g = g64.pow(2).sum(1)

    def block_scores(a: int, b: int) -> torch.Tensor:
        s = q64[a:b] @ g64.T
        if metric == "cosine":
            D = 1.0 - s * inv_q[a:b, None] * inv_g[None]
        else:
            D = (q64[a:b].pow(2).sum(1, keepdim=True) + sq_g[None] - 2.0 * s).clamp_min(0.0)
        out = -((1.0 - lambda_value) + lambda_value * D / qmax[a:b, None])
        lo, hi = row_start[a], row_start[b]
        out[torch.from_numpy(mi[lo:hi] - a), torch.from_numpy(mj[lo:hi])] += torch.from_numpy(corr[lo:hi])
        return out

    return block_scores


def rerank_dense(qf: np.ndarray, gf: np.ndarray, metric: str = "cosine", k1: int = 20, k2: int = 6,
                 lambda_value: float = 0.3) -> np.ndarray:
    """The textbook dense re-ranking; returns the (Q, G) final distance. Small inputs only."""
    from .ranking import prepare_features
    q, g, _ = prepare_features(qf, gf, metric)
    x = _pooled(q, g)
    n, nq = len(x), len(q)
    ref = pooled_reference(x, metric)
    D = ref.distances(np.repeat(np.arange(n), n), np.tile(np.arange(n), n)).reshape(n, n)
    R = np.argsort(D, axis=1, kind="stable")          # equal distances in index order
    D = D / np.maximum(D.max(axis=1, keepdims=True), 1e-12)
    half = int(np.around(k1 / 2.0))
    V = np.zeros((n, n))

    def recip(i, k):
        fwd = R[i, :k + 1]
        return fwd[[i in R[f, :k + 1] for f in fwd]]

    for i in range(n):
        Ki = recip(i, k1)
        expanded = list(Ki)
        for c in Ki:
            Kc = recip(c, half)
            if len(np.intersect1d(Kc, Ki)) > 2.0 / 3.0 * len(Kc):
                expanded.extend(Kc)
        J = np.unique(expanded)
        w = np.exp(-D[i, J])
        V[i, J] = w / w.sum()
    if k2 > 1:
        V = np.stack([V[R[i, :k2]].mean(0) for i in range(n)])
    jac = np.empty((nq, n - nq))
    for i in range(nq):
        m = np.minimum(V[i][None], V[nq:]).sum(1)
        jac[i] = 1.0 - m / (2.0 - m)
    return (1.0 - lambda_value) * jac + lambda_value * D[:nq, nq:]


def jaccard_distance(features: np.ndarray, k1: int = 20, k2: int = 6, metric: str = "cosine"):
    """Within-set k-reciprocal Jaccard distances as a scipy CSR matrix (only pairs below 1 are stored).

    The same encoding as the re-ranking above (steps 1-4) on one set instead of queries + gallery:
    what clustering-based unsupervised re-ID (Cluster Contrast, SpCL) clusters on. Absent pairs
    are at distance 1; stored zeros (e.g. the diagonal) are real zeros.
    """
    from scipy import sparse
    from .ranking import prepare_features
    x, _, _ = prepare_features(features, features[:1], metric)
    x = np.ascontiguousarray(x.numpy())
    n = len(x)
    ref = pooled_reference(x, metric)
    R = exact_neighbours(x, ref, max(min(n, k1 + 1), min(n, k2)))
    V = _sparse_v(R, farthest(x, ref), ref, min(k1, n - 1), min(k2, n))
    # the query/gallery overlap with V as both halves gives every pair of the one set
    Vi = V.indices()
    both = torch.sparse_coo_tensor(torch.cat([Vi, Vi + torch.tensor([[n], [0]])], 1), torch.cat([V.values()] * 2),
                                   (2 * n, n), check_invariants=False).coalesce()
    mi, mj, m = _jaccard_overlap(both, n)
    dist = np.clip(1.0 - m / (2.0 - m), 0.0, 1.0)
    keep = dist < 1.0
    return sparse.csr_matrix((dist[keep], (mi[keep], mj[keep])), shape=(n, n))
