"""Exact integer matrix products at BLAS speed, in floating point.

Floating-point matrix products of integers are exact as long as every partial sum is an
integer of magnitude <= 2^24 (float32) or 2^53 (float64). For an inner index k,
b_k = max_i |F[i,k]| * max_j |G[k,j]| caps every |F[i,k] G[k,j]|, so sum b_k over a chunk
of the inner dimension caps every partial sum, in whatever order BLAS adds. The inner
dimension is cut into consecutive chunks with sum b_k under the limit (float32 when that
needs few chunks, else float64), each chunk multiplied by BLAS and the chunk results
added in int64.

The NB-SMT emulator (`nbsmt.sim.emulator`) plans its stacked products with
`matmul_plan`; the workload study (`nbsmt.sim.evaluate`) uses `exact_matmul` for the
exact 8-bit network.
"""

from __future__ import annotations

import numpy as np

F32_EXACT = 1 << 24
F64_EXACT = 1 << 53
# A float32 plan is used unless its chunks would average fewer inner elements than this.
_MIN_F32_CHUNK = 256
#: Longest inner chunk of one BLAS call (bounds the memory of one chunk's operands).
MAX_INNER = 4096


def _chunks(bound: np.ndarray, limit: int):
    """Consecutive [lo, hi) ranges with sum(bound[lo:hi]) <= limit, or None if impossible.

    Greedy for the number of chunks, then evened out when equal lengths also fit (a
    tail of a few columns makes a slow matrix product).
    """
    if bound.size and int(bound.max()) > limit:
        return None
    cum = np.concatenate([[0], np.cumsum(bound, dtype=np.int64)])
    greedy, lo = [], 0
    while lo < bound.size:
        hi = int(np.searchsorted(cum, cum[lo] + limit, side="right")) - 1
        greedy.append((lo, hi))
        lo = hi
    edges = np.linspace(0, bound.size, len(greedy) + 1).round().astype(int)
    even = list(zip(edges[:-1].tolist(), edges[1:].tolist()))
    if all(cum[hi] - cum[lo] <= limit for lo, hi in even):
        return even
    return greedy


def matmul_plan(bound, max_len: int | None = None):
    """Inner-dimension chunks [lo, hi) and the float dtype under which F @ G is exact.

    bound[k] must cap |F[i,k] * G[k,j]| for all i, j (a non-negative integer). Chunks are
    at most max_len long when given (to bound the memory of one chunk's operand).
    """
    bound = np.asarray(bound, dtype=np.int64)
    plan, dtype = _chunks(bound, F32_EXACT), np.float32
    if plan is None or len(plan) > max(1, -(-bound.size // _MIN_F32_CHUNK)):
        plan, dtype = _chunks(bound, F64_EXACT), np.float64
    if max_len:
        plan = [piece for lo, hi in plan for piece in _even_split(lo, hi, max_len)]
    return plan, dtype


def _even_split(lo: int, hi: int, max_len: int):
    """[lo, hi) cut into the fewest near-equal pieces of at most max_len."""
    pieces = -(-(hi - lo) // max_len)
    edges = np.linspace(lo, hi, pieces + 1).round().astype(int).tolist()
    return list(zip(edges[:-1], edges[1:]))


def abs_max(x, axis: int) -> np.ndarray:
    """max |x| along an axis as int64, without an abs() copy (and safe for int8's -128)."""
    if x.shape[axis] == 0:
        return np.zeros(x.shape[1 - axis], dtype=np.int64)
    return np.maximum(x.max(axis=axis).astype(np.int64), -x.min(axis=axis).astype(np.int64))


def exact_matmul(f, g) -> np.ndarray:
    """F @ G of integer arrays, exact, as int64, at BLAS speed (see the module docstring)."""
    f, g = np.asarray(f), np.asarray(g)
    plan, dtype = matmul_plan(abs_max(f, axis=0) * abs_max(g, axis=1), max_len=MAX_INNER)
    out = np.zeros((f.shape[0], g.shape[1]), dtype=np.int64)
    for lo, hi in plan:
        out += (f[:, lo:hi].astype(dtype) @ g[lo:hi].astype(dtype)).astype(np.int64)
    return out
