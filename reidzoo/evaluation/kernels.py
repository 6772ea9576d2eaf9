"""Compiled loops of the bf16 ranking engine (numba, cached on disk after the first run).

The bf16 similarity pass leaves, per (gallery item, query) pair, a bf16 bit pattern. The scan
below visits each pattern once, skips the ones whose sign bit is set (the item cannot reach the
query's weakest positive), and for the rest finds how many of the query's positives the item
beats: from the bf16 value and its error bound when that is unambiguous, otherwise from an fp32
dot product of the original features and its bound, and where even that leaves a positive in
doubt, from the reference distance and the tie rule (`exact.py`). It runs on a range of gallery
rows, so that a gallery row read for re-scoring is reused for every query of the block while it
sits in cache.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .exact import count_beaten, count_many, distance64, norms64, pair_distances, ties_at

_ALL_SIGNS = np.uint64(0x8000800080008000)   # the sign bits of the four int16 lanes of a word


@njit(fastmath={"reassoc", "contract"}, nogil=True, cache=True)
def dot32(a: np.ndarray, b: np.ndarray) -> float:
    """fp32 dot product (any summation order: its error is within gamma_d * sum|a_k b_k|)."""
    s = np.float32(0.0)
    for k in range(a.shape[0]):
        s += a[k] * b[k]
    return s


@njit(nogil=True, cache=True)
def _count_below(t_asc, start, m, x):
    """How many of t_asc[start:start + m] (ascending, m >= 1) are strictly below x.

    Branch-free halving: the comparisons are unpredictable, so a conditional add beats a branch."""
    lo = start
    n = m
    while n > 1:
        half = n >> 1
        lo += half * (t_asc[lo + half - 1] < x)
        n -= half
    return lo - start + (t_asc[lo] < x)


@njit(nogil=True, cache=True)
def scan_rows(a16, a64, r0, r1, qidx, q_pids, g_pids, c_shift, err_q0, err_qh, err_qd, err_g_p, err_g_s, err_g_w,
              e2_qm, e2_q0, e2_g, lut, qf, gf, q_scale, g_scale, w, pos_start, pos_m, t_asc, p_key, p_idx, base, hist,
              metric, rq, rg, rq_norm, rg_norm):
    """Count, for gallery rows r0..r1 of one block, each candidate's place among its query's positives.

    a16[i, j] is the bf16 pattern of gallery item i against block query qidx[j] (-1: padding);
    its value plus c_shift[q] approximates the exact score within e1 =
    err_q0[q] + err_qh[q] * err_g_p[i] + err_qd[q] * err_g_s[i] + err_g_w[i] + |value| * 2^-8 * 1.01.
    Where that leaves a positive's score t in doubt, the fp32 re-score x is within
    e2 = e2_qm[q] * err_g_s[i] + e2_q0[q] + e2_g[i]; where that still does, the reference distance
    (`exact.distance64` of rq[q], rg[i]) places the item by the tie rule among p_key / p_idx.
    hist[base[q] + c] counts negatives that beat exactly c of q's positives (worst first).
    Returns (candidates, re-scored, placed by reference distance, tied with a positive)."""
    n_cand = 0
    n_rescored = 0
    n_exact = 0
    n_ties = 0
    nw = a64.shape[1]
    for i in range(r0, r1):
        words = a64[i]
        row = a16[i]
        gp = g_pids[i]
        for k in range(nw):
            if (words[k] & _ALL_SIGNS) == _ALL_SIGNS:
                continue
            for j in range(4 * k, 4 * k + 4):
                bits = row[j]
                if bits < 0:                 # sign bit set: below the weakest positive
                    continue
                q = qidx[j]
                if q < 0 or q_pids[q] == gp:  # padding, or not a negative
                    continue
                n_cand += 1
                approx = lut[bits]
                e = ((err_q0[q] + err_qh[q] * err_g_p[i] + err_qd[q] * err_g_s[i] + err_g_w[i]) * (1.0 + 1e-6)
                     + abs(approx) * (2.0 ** -8 * 1.01) + 1e-30)
                xh = approx + c_shift[q]
                s, m = pos_start[q], pos_m[q]
                c = _count_below(t_asc, s, m, xh - e)
                if c < m and t_asc[s + c] <= xh + e:
                    n_rescored += 1
                    x = np.float64(dot32(qf[q], gf[i])) * q_scale[q] * g_scale[i] - w[i]
                    e2 = (e2_qm[q] * err_g_s[i] + e2_q0[q] + e2_g[i]) * (1.0 + 1e-6)
                    c = _count_below(t_asc, s, m, x - e2)
                    if c < m and t_asc[s + c] <= x + e2:
                        n_exact += 1
                        dist = distance64(metric, rq[q], rg[i], rq_norm[q], rg_norm[i])
                        c = count_beaten(p_key, p_idx, s, m, dist, i)
                        n_ties += ties_at(p_key, s, m, c, dist)
                hist[base[q] + c] += 1
    return n_cand, n_rescored, n_exact, n_ties


def bf16_value_table() -> np.ndarray:
    """float64 value of every non-negative bf16 bit pattern (0 .. 0x7fff)."""
    bits = np.arange(0x8000, dtype=np.uint32) << 16
    with np.errstate(invalid="ignore"):      # patterns of inf and NaN, which finite scores never give
        return bits.view(np.float32).astype(np.float64)


def warm_up() -> None:
    """Load the compiled kernels (from numba's on-disk cache after the first run) by calling them
    on tiny inputs of the types the ranking engine passes."""
    f32 = np.zeros((1, 4), np.float32)
    i64 = np.zeros(1, np.int64)
    f64 = np.zeros(1, np.float64)
    ones = np.ones(1)
    pair_distances(0, f32, f32, i64, i64, ones, ones)
    norms64(f32)
    count_many(f64, i64, i64, np.ones(1, np.int64), i64, f64, i64, np.zeros(1, np.int64))
    a16 = np.full((1, 4), -1, np.int16)
    scan_rows(a16, a16.view(np.uint64), 0, 1, np.full(4, -1, np.int64), i64, i64, f64, f64, f64, f64, f64, f64, f64,
              f64, f64, f64, bf16_value_table(), f32, f32, f64, f64, f64, i64, np.ones(1, np.int64), f64, f64, i64, i64,
              np.zeros(2, np.int64), 0, f32, f32, ones, ones)
