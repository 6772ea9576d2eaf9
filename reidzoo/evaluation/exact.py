"""The reference distances and the tie rule that every ranking engine reproduces exactly.

Distances are computed in float64 from the float32 features, in one fixed order, so that they are
the same on every machine:

* dot(a, b): the products a_k b_k (exact in float64) summed in 8 running sums over k mod 8, then
  ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)); |x| = sqrt(dot(x, x)), at least 1e-12;
* cosine distance 1 - dot(q, g) / (|q| |g|); Euclidean: the squared distance, the 8 running sums
  of (q_k - g_k)^2 (the square root would only merge values).

Tie rule: a query's gallery is ranked by that distance, and equal distances are ordered by gallery
index, as a stable argsort of the distances does. A negative therefore ranks above a positive iff
(d_neg, i_neg) < (d_pos, i_pos) lexicographically. When features are quantised (e.g. integer
valued), every sum is exact, so distances that are equal in exact arithmetic are equal here too.

The engines rank in low precision with a proven error bound and call these kernels only for pairs
whose order the bound leaves in doubt. The "score" they compare is higher-is-better: the cosine
similarity, or (|q - c|^2 - d) / 2 for Euclidean features centred at c; `Reference` maps exact
distances into that domain and gives the margin (`delta`) that covers the float64 rounding of
both, so that the bound-based decisions agree with the exact order.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import warnings

import numpy as np
import torch
from numba import njit

_U64 = 2.0 ** -53
COSINE, EUCLIDEAN = 0, 1


@njit(nogil=True, cache=True, inline="always")
def _term(x, y, squared_difference: bool) -> float:
    if squared_difference:
        t = np.float64(x) - np.float64(y)
        return t * t
    return np.float64(x) * np.float64(y)


@njit(nogil=True, cache=True)
def _lane_sum(a: np.ndarray, b: np.ndarray, squared_difference: bool) -> float:
    """sum of _term(a_k, b_k) in float64, in the fixed order of the module docstring."""
    n = a.shape[0]
    sd = squared_difference
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    k = 0
    while k + 8 <= n:
        s0 += _term(a[k], b[k], sd)
        s1 += _term(a[k + 1], b[k + 1], sd)
        s2 += _term(a[k + 2], b[k + 2], sd)
        s3 += _term(a[k + 3], b[k + 3], sd)
        s4 += _term(a[k + 4], b[k + 4], sd)
        s5 += _term(a[k + 5], b[k + 5], sd)
        s6 += _term(a[k + 6], b[k + 6], sd)
        s7 += _term(a[k + 7], b[k + 7], sd)
        k += 8
    r = n - k          # the tail goes to the first lanes, in order
    if r > 0:
        s0 += _term(a[k], b[k], sd)
    if r > 1:
        s1 += _term(a[k + 1], b[k + 1], sd)
    if r > 2:
        s2 += _term(a[k + 2], b[k + 2], sd)
    if r > 3:
        s3 += _term(a[k + 3], b[k + 3], sd)
    if r > 4:
        s4 += _term(a[k + 4], b[k + 4], sd)
    if r > 5:
        s5 += _term(a[k + 5], b[k + 5], sd)
    if r > 6:
        s6 += _term(a[k + 6], b[k + 6], sd)
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@njit(nogil=True, cache=True)
def dot64(a: np.ndarray, b: np.ndarray) -> float:
    """sum a_k b_k in float64, in the fixed order of the module docstring."""
    return _lane_sum(a, b, False)


@njit(nogil=True, cache=True)
def sqdist64(a: np.ndarray, b: np.ndarray) -> float:
    """sum (a_k - b_k)^2 in float64, in the fixed order of the module docstring."""
    return _lane_sum(a, b, True)


@njit(nogil=True, cache=True)
def distance64(metric: int, q: np.ndarray, g: np.ndarray, q_norm: float, g_norm: float) -> float:
    """The reference distance of one pair (norms: `norms64` of the rows, for cosine)."""
    if metric == COSINE:
        return 1.0 - dot64(q, g) / (q_norm * g_norm)
    return sqdist64(q, g)


@njit(nogil=True, cache=True)
def norms64(x: np.ndarray) -> np.ndarray:
    """max(sqrt(dot64(x_i, x_i)), 1e-12) per row."""
    out = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        out[i] = max(np.sqrt(dot64(x[i], x[i])), 1e-12)
    return out


@njit(nogil=True, cache=True)
def pair_distances(metric: int, qf: np.ndarray, gf: np.ndarray, qi: np.ndarray, gi: np.ndarray,
                   q_norm: np.ndarray, g_norm: np.ndarray) -> np.ndarray:
    """The reference distances of the pairs (qi[n], gi[n])."""
    out = np.empty(qi.shape[0])
    for n in range(qi.shape[0]):
        a, b = qi[n], gi[n]
        out[n] = distance64(metric, qf[a], gf[b], q_norm[a], g_norm[b])
    return out


@njit(nogil=True, cache=True)
def count_beaten(p_key: np.ndarray, p_idx: np.ndarray, start: int, m: int, key: float, idx: int) -> int:
    """How many of a query's positives (p_key[start:start + m], worst first: distance descending,
    then gallery index descending) an item of distance `key` and gallery index `idx` ranks above:
    those with a larger distance, or the same distance and a larger index."""
    lo, hi = 0, m
    while lo < hi:
        mid = (lo + hi) >> 1
        k = p_key[start + mid]
        if k > key or (k == key and p_idx[start + mid] > idx):
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(nogil=True, cache=True)
def ties_at(p_key: np.ndarray, start: int, m: int, c: int, key: float) -> bool:
    """True when the item just counted (`count_beaten` gave c) has a positive's exact distance."""
    return (c < m and p_key[start + c] == key) or (c > 0 and p_key[start + c - 1] == key)


@njit(nogil=True, cache=True)
def count_many(p_key, p_idx, starts, ms, qi, keys, gi, out):
    """`count_beaten` for many items; returns how many tie with a positive."""
    ties = 0
    for n in range(qi.shape[0]):
        q = qi[n]
        c = count_beaten(p_key, p_idx, starts[q], ms[q], keys[n], gi[n])
        out[n] = c
        ties += ties_at(p_key, starts[q], ms[q], c, keys[n])
    return ties


def plain_f32(x: np.ndarray) -> np.ndarray:
    """x as a C-contiguous float32 ndarray, without copying a memory map (the compiled kernels
    are cached for plain writable arrays; x is never written)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).numpy()


def gamma64(n: int) -> float:
    """The float64 error factor of an n-term sum of products: n u / (1 - n u)."""
    return n * _U64 / (1 - n * _U64)


@njit(nogil=True, cache=True)
def sqdist_rows(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """sqdist64(x_i, c) per row."""
    out = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        out[i] = sqdist64(x[i], c)
    return out


@dataclass
class Reference:
    """The reference distances of a query / gallery set, and their map to the engines' scores.

    ``qf``, ``gf``: the float32 features as given (not normalised, not centred); ``centre``: the
    float32 vector the Euclidean engines subtract. Cheap to build; `finish` (run where the
    compiled kernels are loaded) computes the norms, offsets and margins."""

    metric: int
    qf: np.ndarray
    gf: np.ndarray
    centre: Optional[np.ndarray] = None
    q_norm: Optional[np.ndarray] = None   # cosine: norms64 of the rows (ones for Euclidean)
    g_norm: Optional[np.ndarray] = None
    q_offset: Optional[np.ndarray] = None  # Euclidean: |q - c|^2 per query (the score is (q_offset - d) / 2)
    delta_q: Optional[np.ndarray] = None   # per query and per gallery item: the margin for float64 rounding
    delta_g: Optional[np.ndarray] = None

    @classmethod
    def build(cls, qf: np.ndarray, gf: np.ndarray, metric: str, centre=None) -> "Reference":
        """The reference for `metric` ("cosine" / "euclidean"); `centre` is required for Euclidean."""
        if metric == "euclidean":
            return cls(EUCLIDEAN, plain_f32(qf), plain_f32(gf), np.ascontiguousarray(centre, dtype=np.float32))
        return cls(COSINE, plain_f32(qf), plain_f32(gf))

    def finish(self) -> "Reference":
        """Compute the norms, offsets and margins (compiled kernels; once)."""
        if self.q_norm is not None:
            return self
        g = gamma64(self.qf.shape[1] + 8)
        if self.metric == COSINE:
            # |t - s*| <= 2g + 10u (t = 1 - d), |d - d*| <= 2g + 8u per key, and the engines' scores
            # use 1 / |q| with a relative error <= g + 4u: 10g + 40u covers all of them, so
            # decisions outside the margin are strict
            self.q_offset = np.zeros(len(self.qf))
            self.delta_q, self.delta_g = np.full(len(self.qf), 10 * g + 40 * _U64), np.zeros(len(self.gf))
            self.q_norm, self.g_norm = norms64(self.qf), norms64(self.gf)
            return self
        qn2, gn2 = sqdist_rows(self.qf, self.centre), sqdist_rows(self.gf, self.centre) * (1 + 1e-6)
        # relative errors <= g of |q-c|^2, of each d and of t = (|q-c|^2 - d) / 2, with
        # d <= 2|q-c|^2 + 2|g-c|^2 for the negative and for the query's positives (any gallery item)
        self.q_offset = qn2
        self.delta_q, self.delta_g = 16 * g * (qn2 + gn2.max()) + 1e-300, 16 * g * gn2
        self.q_norm, self.g_norm = np.ones(len(self.qf)), np.ones(len(self.gf))
        return self

    def distances(self, qi: np.ndarray, gi: np.ndarray) -> np.ndarray:
        """Reference distances of the pairs (qi, gi)."""
        self.finish()
        qi = np.ascontiguousarray(qi, dtype=np.int64)
        gi = np.ascontiguousarray(gi, dtype=np.int64)
        return pair_distances(self.metric, self.qf, self.gf, qi, gi, self.q_norm, self.g_norm)

    def scores(self, qi: np.ndarray, dist: np.ndarray) -> np.ndarray:
        """The engines' higher-is-better score of queries qi at reference distances `dist`
        (monotone: a larger distance never gets a larger score)."""
        if self.metric == COSINE:
            return 1.0 - dist
        return (self.q_offset[qi] - dist) * 0.5
