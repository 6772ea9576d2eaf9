"""Exact per-positive ranks without a Q x G sort: counts of negatives scored above each positive.

Two engines share one counting step:

* ``fp32``: blocks of exact fp32 scores; per query only gallery items scoring at or above its
  weakest positive can change a positive's rank, so only those are located among the positives.
* ``bf16``: one bf16 similarity pass (about 3x faster than fp32 on CPUs with AVX512-BF16) with a
  rigorous per-query error bound E. Each query's scores are shifted (inside the matmul) so that
  a sign test on the bf16 output keeps every item that might score above its weakest positive.
  For a kept item, the bf16 value x^ satisfies |x^ - x| <= e, so it sits above exactly the
  positives with t < x^ - e, and below those with t >= x^ + e; only items whose interval
  [x^ - e, x^ + e] straddles a positive's score are re-scored exactly in fp32. The counts, and
  therefore all metrics, equal those of the fp32 engine.

Scores are "higher is better": cosine similarity, or q.g - |g|^2 / 2 for Euclidean distance
(which orders a query's gallery exactly like the squared distance).
"""
from __future__ import annotations

import time
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Optional

import faiss
import numpy as np
import torch
from tqdm.auto import tqdm

from .protocol import Positives

_U32 = 2.0 ** -24          # fp32 unit roundoff


def _tensor(x: np.ndarray) -> torch.Tensor:
    """A float32 tensor over x without copying it; x may be a read-only memory map (never written)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def prepare_features(qf: np.ndarray, gf: np.ndarray, metric: str):
    """(q, g, w): fp32 tensors (L2-normalised for cosine) and the per-gallery score offset."""
    if metric not in ("cosine", "euclidean"):
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    q, g = _tensor(qf), _tensor(gf)
    if metric == "cosine":
        q = torch.nn.functional.normalize(q, dim=1)
        g = torch.nn.functional.normalize(g, dim=1)
        w = np.zeros(len(g), np.float64)
    else:
        # distances do not change under translation; centring avoids fp32 cancellation in
        # |q|^2 + |g|^2 - 2 q.g when features sit far from the origin. Any fp32 centre will do,
        # as long as every feature is moved by the same one (each subtraction rounds once).
        centre = torch.from_numpy(np.mean(gf, axis=0, dtype=np.float64).astype(np.float32))
        q = q - centre
        g = g - centre
        w = np.concatenate([0.5 * g[s:s + 8192].double().square().sum(1).numpy() for s in range(0, len(g), 8192)])
    return q, g, w


def _row_norms(x: torch.Tensor, chunk: int = 8192) -> np.ndarray:
    """L2 norms of rows in float64, computed in chunks (no full-size temporaries)."""
    return np.concatenate([x[s:s + chunk].norm(dim=1).double().numpy() for s in range(0, len(x), chunk)]
                          or [np.zeros(0)])


def prepare_scaled(qf: np.ndarray, gf: np.ndarray, metric: str):
    """(q, g, w, q_scale, g_scale) without copying the features: score = (q.g) q_scale g_scale - w.

    For cosine, q and g are the caller's arrays and the scales are their inverse norms; for
    Euclidean they are centred copies with unit scales (see `prepare_features`)."""
    if metric == "euclidean":
        q, g, w = prepare_features(qf, gf, metric)
        return q, g, w, np.ones(len(q)), np.ones(len(g))
    if metric != "cosine":
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    q, g = _tensor(qf), _tensor(gf)
    return q, g, np.zeros(len(g)), 1.0 / np.maximum(_row_norms(q), 1e-12), 1.0 / np.maximum(_row_norms(g), 1e-12)


def exact_scores(q: torch.Tensor, g: torch.Tensor, w: np.ndarray, qi: np.ndarray, gi: np.ndarray,
                 chunk: int = 1 << 20, width: int = 256, q_scale: Optional[np.ndarray] = None,
                 g_scale: Optional[np.ndarray] = None) -> np.ndarray:
    """fp32 dot products of the given pairs (times optional per-row scales) minus the gallery
    offset (float64 result).

    Pairs are grouped by query and handed to FAISS's gathered inner-product kernel, which reads
    each query once and the gallery rows in place (no copy of gathered rows)."""
    out = np.empty(len(qi), np.float64)
    if len(qi) == 0:
        return out
    qn, gn = q.numpy(), g.numpy()
    d = qn.shape[1]
    order = np.argsort(qi, kind="stable")
    for s in range(0, len(order), chunk):
        sel = order[s:s + chunk]
        qs, gs = qi[sel], gi[sel]
        uq, start, cnt = np.unique(qs, return_index=True, return_counts=True)
        rows_per = -(-cnt // width)
        row_start = np.cumsum(rows_per) - rows_per
        k = np.arange(len(qs)) - np.repeat(start, cnt)
        row = np.repeat(row_start, cnt) + k // width
        col = k % width
        ids = np.full((int(rows_per.sum()), width), -1, np.int64)
        ids[row, col] = gs
        x = np.ascontiguousarray(qn[np.repeat(uq, rows_per)])
        ip = np.zeros(ids.shape, np.float32)
        faiss.fvec_inner_products_by_idx(faiss.swig_ptr(ip), faiss.swig_ptr(x), faiss.swig_ptr(gn),
                                         faiss.swig_ptr(ids), d, len(ids), width)
        v = ip[row, col].astype(np.float64)
        if q_scale is not None:
            v *= q_scale[qs] * g_scale[gs]
        out[sel] = v - w[gs]
    return out


def _positive_layout(pos_q: np.ndarray, t_sorted_desc: np.ndarray, num_queries: int):
    """(m, starts, t_asc, t_min, base) of positives grouped by query, best first: per query the
    number of positives, where they start, their scores ascending (flat, in the same groups), the
    weakest score (inf without positives) and where its m + 1 histogram bins start."""
    m = np.bincount(pos_q, minlength=num_queries)
    starts = np.cumsum(m) - m
    j = np.arange(len(pos_q)) - starts[pos_q]
    t_asc = np.ascontiguousarray(t_sorted_desc[starts[pos_q] + m[pos_q] - 1 - j])
    t_min = np.full(num_queries, np.inf)
    has = m > 0
    t_min[has] = t_asc[starts[has]]
    base = np.cumsum(m + 1) - (m + 1)
    return m, starts, t_asc, t_min, base


class _Counter:
    """Accumulates, per query, how many negatives lie above exactly c of its positives."""

    def __init__(self, pos_q: np.ndarray, t_sorted_desc: np.ndarray, num_queries: int, span: float):
        self.m, self.starts, t_asc, self.t_min, self.base = _positive_layout(pos_q, t_sorted_desc, num_queries)
        # ascending scores per query, offset by query so one searchsorted serves all queries
        self.off = 4.0 * span + 4.0
        self.key = pos_q * self.off + t_asc
        self.hist = np.zeros(int((self.m + 1).sum()), np.int64)

    def below(self, qi: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Number of query qi's positives scoring strictly below x."""
        return np.searchsorted(self.key, qi * self.off + x, side="left") - self.starts[qi]

    def add(self, qi: np.ndarray, c: np.ndarray) -> None:
        self.hist += np.bincount(self.base[qi] + c, minlength=len(self.hist))

    def neg_above(self, pos_q: np.ndarray) -> np.ndarray:
        """Per positive (grouped by query, best first): negatives ranked above it."""
        return _neg_above(self.hist, self.m, self.starts, self.base, pos_q)


def _neg_above(hist: np.ndarray, m: np.ndarray, starts: np.ndarray, base: np.ndarray,
               pos_q: np.ndarray) -> np.ndarray:
    """Per positive (grouped by query, best first): negatives ranked above it, from the histogram
    hist[base[q] + c] = number of q's negatives above exactly c of its m[q] positives."""
    csum = np.concatenate([[0], np.cumsum(hist)])
    j = np.arange(len(pos_q)) - starts[pos_q]
    end = base[pos_q] + m[pos_q] + 1        # one past the query's last bin
    first = base[pos_q] + m[pos_q] - j      # bins c >= m - j lie above positive j
    return csum[end] - csum[first]


def _sort_positives(pos: Positives, t: np.ndarray):
    order = np.lexsort((-t, pos.q))
    return pos.q[order], pos.g[order], t[order]


def count_fp32(block_scores: Callable[[int, int], torch.Tensor], pos: Positives, g_pids: np.ndarray,
               q_pids: np.ndarray, block: int = 256, progress: bool = False):
    """Exact counts from fp32 score blocks ``block_scores(a, b) -> (b-a, G)``.

    Returns (pos_q, pos_g, t, neg_above) sorted by query, best positive first."""
    nq = pos.num_queries
    t = np.empty(len(pos.q), np.float64)
    blocks = []
    # pass 1 computes the positives' scores from the very same blocks used for counting
    pos_start = np.searchsorted(pos.q, np.arange(0, nq + block, block))
    spans = []
    for bi, a in enumerate(range(0, nq, block)):
        b = min(nq, a + block)
        s0, s1 = pos_start[bi], pos_start[bi + 1]
        if s1 == s0:
            continue
        S = block_scores(a, b)
        t[s0:s1] = S[torch.from_numpy(pos.q[s0:s1] - a), torch.from_numpy(pos.g[s0:s1])].double().numpy()
        spans.append(float(S.abs().max()))
        blocks.append((a, b))
    pq, pg, ts = _sort_positives(pos, t)
    counter = _Counter(pq, ts, nq, max(spans, default=1.0))
    for a, b in tqdm(blocks, desc="ranking", unit="block", disable=not progress):
        S = block_scores(a, b)
        thr = torch.from_numpy(counter.t_min[a:b]).to(S.dtype).unsqueeze(1)
        rows, cols = (S >= thr).nonzero(as_tuple=True)
        rows, cols = rows.numpy(), cols.numpy()
        qi = rows + a
        neg = g_pids[cols] != q_pids[qi]
        qi, rows, cols = qi[neg], rows[neg], cols[neg]
        x = S[torch.from_numpy(rows), torch.from_numpy(cols)].double().numpy()
        counter.add(qi, counter.below(qi, x))
    return pq, pg, ts, counter.neg_above(pq)


def _bf16(x: torch.Tensor) -> torch.Tensor:
    """Round to bf16 (nearest even). Kernels that flush denormals change a product by < 2^-126,
    which the error bound covers."""
    return x.bfloat16()


def _bf16_floor(x: np.ndarray) -> np.ndarray:
    """Largest bf16 values <= x (float64 in, float64 out)."""
    r = torch.from_numpy(x.astype(np.float32)).bfloat16().double().numpy()
    for _ in range(4):
        over = r > x
        if not over.any():
            break
        r[over] = torch.from_numpy((x[over] - np.abs(x[over]) * 2.0 ** -7 - 1e-30).astype(np.float32)
                                   ).bfloat16().double().numpy()
    assert (r <= x).all()
    return r


def _bf16_rows(x: torch.Tensor, scale: np.ndarray, out: torch.Tensor, chunk: int = 2048):
    """Write bf16(x * scale) into out[:, :d]; return norms of the bf16 rows and of the residuals
    x * scale - bf16(x * scale) (exact in fp32: the dropped low bits)."""
    d = x.shape[1]
    h_n = np.empty(len(x))
    r_n = np.empty(len(x))
    sc = torch.from_numpy(scale.astype(np.float32))
    xs = torch.empty(min(chunk, len(x)), d)          # chunks small enough to stay in cache
    for s in range(0, len(x), chunk):
        n = min(chunk, len(x) - s)
        scaled = torch.mul(x[s:s + n], sc[s:s + n, None], out=xs[:n])
        rounded = out[s:s + n, :d]
        rounded.copy_(scaled)                        # round to nearest even, like .bfloat16()
        h_n[s:s + n] = torch.linalg.vector_norm(rounded, dim=1, dtype=torch.float32).numpy()
        r_n[s:s + n] = torch.linalg.vector_norm(scaled.sub_(rounded), dim=1).numpy()
    return h_n, r_n


def _load_kernels() -> Future:
    """Import and load the compiled kernels in a background thread (a future of the module)."""
    def load():
        from . import kernels
        kernels.warm_up()
        return kernels
    ex = ThreadPoolExecutor(1)
    future = ex.submit(load)
    ex.shutdown(wait=False)                # the thread ends when its one job is done
    return future


def _bf16_block_rows(Qh: torch.Tensor, qsel: np.ndarray, c_shift: np.ndarray, d: int, n_w: int, pad: int = 8):
    """The block's bf16 query rows (shift and offset columns filled), padded to a multiple of
    `pad` rows whose scores come out as -1 (sign bit set, so the scan skips them)."""
    nbp = -(-len(qsel) // pad) * pad
    Q = torch.zeros(nbp, Qh.shape[1], dtype=torch.bfloat16)
    Q[:len(qsel)] = Qh[torch.from_numpy(qsel)]
    Q[:len(qsel), d] = torch.from_numpy(c_shift[qsel].astype(np.float32)).bfloat16()
    Q[:len(qsel), d + 1:d + 1 + n_w] = 1.0
    Q[len(qsel):, d] = 1.0
    return Q


def count_bf16(q: torch.Tensor, g: torch.Tensor, w: np.ndarray, pos: Positives, g_pids: np.ndarray,
               q_pids: np.ndarray, q_scale: Optional[np.ndarray] = None, g_scale: Optional[np.ndarray] = None,
               block: int = 1024, progress: bool = False, stats: Optional[dict] = None,
               threads: Optional[int] = None):
    """Exact counts from a bf16 pass plus fp32 re-scoring of the items it leaves in doubt.

    Scores are fp32(q.g) * q_scale * g_scale - w (`kernels.pair_scores`)."""
    t_start = time.perf_counter()
    loading = _load_kernels()
    nq, ng = len(q), len(g)
    d = q.shape[1]
    qn = np.ascontiguousarray(q.numpy())
    gn = np.ascontiguousarray(g.numpy())
    q_scale = np.ones(nq) if q_scale is None else np.ascontiguousarray(q_scale, np.float64)
    g_scale = np.ones(ng) if g_scale is None else np.ascontiguousarray(g_scale, np.float64)
    w = np.ascontiguousarray(w, np.float64)
    # the bf16 copies first: torch does this without the GIL while the kernels load
    w_parts, rest = [], w.copy()
    for _ in range(3 if w.any() else 0):       # the gallery offset w as three bf16 parts (24 bits)
        p = torch.from_numpy(rest.astype(np.float32)).bfloat16().double().numpy()
        w_parts.append(p)
        rest = rest - p
    w_err = float(np.abs(rest).max()) if w_parts else 0.0
    w_abs = float(sum(np.abs(p) for p in w_parts).max()) if w_parts else 0.0
    k = d + 1 + len(w_parts)
    k_pad = -(-k // 16) * 16
    G = torch.zeros(ng, k_pad, dtype=torch.bfloat16)
    Qh = torch.zeros(nq, k_pad, dtype=torch.bfloat16)
    gh_n, gd_n = _bf16_rows(g, g_scale, G)
    qh_n, qd_n = _bf16_rows(q, q_scale, Qh)
    G[:, d] = -1.0
    for i, p in enumerate(w_parts):
        G[:, d + 1 + i] = torch.from_numpy(-p.astype(np.float32)).bfloat16()

    kernels = loading.result()
    threads = threads or max(1, torch.get_num_threads())
    pool = ThreadPoolExecutor(threads) if threads > 1 else None

    def run(fn, jobs):
        return list(pool.map(lambda job: fn(*job), jobs)) if pool else [fn(*job) for job in jobs]

    try:
        t = np.empty(len(pos.q), np.float64)
        cut = np.linspace(0, len(t), threads + 1).round().astype(np.int64)
        run(kernels.pair_scores, [(qn, gn, pos.q[a:b], pos.g[a:b], q_scale, g_scale, w, t[a:b])
                                  for a, b in zip(cut[:-1], cut[1:])])
        pq, pg, ts = _sort_positives(pos, t)
        m, pos_start, t_asc, t_min, base = _positive_layout(pq, ts, nq)
        # norms are computed in fp32 (relative error <= d * 2^-24 < 1e-3 for d < 16k, covered by
        # `rel`); the scaled fp32 rows differ from the exact scaled rows by a relative <= 2^-22
        rel = 1 + 1e-3
        gh_n, gd_n, qh_n = gh_n * rel, gd_n * rel + 2.0 ** -22 * gh_n, qh_n * rel
        qd_n = qd_n * rel + 2.0 ** -22 * qh_n
        q_n = qh_n + qd_n
        g_n = gh_n + gd_n

        gamma = lambda n: n * _U32 / (1 - n * _U32)
        gk, gd = gamma(k), gamma(d)
        # |bf16-input dot - fp32 dot| (Cauchy-Schwarz on the rounding residuals) + fp32 accumulation of
        # the bf16 matmul + fp32 error of the exact re-scoring + the split of w + denormal flushing.
        # E is the bound over the whole gallery (it sets the shift); the scan uses the same terms
        # with the gallery item's own norms.
        cs_max = qh_n * gd_n.max() + qd_n * g_n.max()
        E0 = cs_max + w_err + 1e-3                # |shift| <= |t_min| + E; this over-estimates E
        t_min0 = np.abs(np.where(np.isfinite(t_min), t_min, 0))
        err_q0 = (w_err + gk * (t_min0 + 2 * E0 + w_abs) + gd * np.abs(w).max() + k * 2.0 ** -120) + 1e-12
        E = (err_q0 + qh_n * (gd_n + gk * gh_n).max() + (qd_n + gd * q_n) * g_n.max()) * (1 + 1e-6)
        valid_q = np.flatnonzero(m > 0)
        c_shift = np.zeros(nq)
        c_shift[valid_q] = _bf16_floor(t_min[valid_q] - E[valid_q] * 1.001)
        err_g_p = gd_n + gk * gh_n
        err_qd = qd_n + gd * q_n
        lut = kernels.bf16_value_table()

        hists = np.zeros((threads, int((m + 1).sum())), np.int64)
        bounds = np.linspace(0, ng, threads + 1).round().astype(np.int64)
        buf = torch.empty(ng * (-(-min(block, len(valid_q)) // 8) * 8), dtype=torch.bfloat16)
        n_uncertain = n_cand = 0
        timing = {"setup": time.perf_counter() - t_start, "matmul": 0.0, "scan": 0.0}
        for a in tqdm(range(0, len(valid_q), block), desc="ranking", unit="block", disable=not progress):
            qsel = valid_q[a:a + block]
            Q = _bf16_block_rows(Qh, qsel, c_shift, d, len(w_parts))
            nbp = len(Q)
            qidx = np.full(nbp, -1, np.int64)
            qidx[:len(qsel)] = qsel
            tic = time.perf_counter()
            A = torch.mm(G, Q.T, out=buf[:ng * nbp].view(ng, nbp))     # gallery-major bf16 scores
            timing["matmul"] += time.perf_counter() - tic
            tic = time.perf_counter()
            a16 = A.view(torch.int16).numpy()
            a64 = a16.view(np.uint64)
            args = (qidx, q_pids, g_pids, c_shift, err_q0, qh_n, err_qd, err_g_p, g_n, lut, qn, gn, q_scale,
                    g_scale, w, pos_start, m, t_asc, base)
            for c, r in run(kernels.scan_rows, [(a16, a64, int(bounds[i]), int(bounds[i + 1])) + args + (hists[i],)
                                                for i in range(threads)]):
                n_cand += c
                n_uncertain += r
            timing["scan"] += time.perf_counter() - tic
    finally:
        if pool:
            pool.shutdown()
    hist = hists.sum(0)
    if stats is not None:
        stats.update(candidates=n_cand, rescored=n_uncertain, max_error_bound=float(E.max()),
                     timing={k: round(v, 3) for k, v in timing.items()})
    return pq, pg, ts, _neg_above(hist, m, pos_start, base, pq)
