"""Golden model of a GEMM on T-thread NB-SMT PEs (SPEC §7-§8).

`C[M,N] = A[M,K] @ W[K,N]` in mode m: at K-step s lane t < m carries k = s*m + t,
lanes t >= m carry zeros, K is zero-padded to a multiple of m. Every output element is
the wrapped sum of per-cycle PE contributions over the K-steps. The model is vectorized
over M, N and K (in blocks over K, N and M to bound memory, see `golden_gemm`) and
reports the statistics of SPEC §8.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from nbsmt.sim.arith import contribution, wrap
from nbsmt.core.policy import Policy, resolve_run

# Upper bound on elements of one [rows, S, N, T] operand block held in memory at once.
_CHUNK_ELEMENTS = 1 << 22


def k_steps(k: int, mode: int) -> int:
    """Number of K-steps (PE cycles per output) to reduce K elements m at a time."""
    return -(-k // mode)


def lane_operands(a, w, threads: int, mode: int):
    """Map A[M,K] and W[K,N] onto lanes: returns A_l[M,S,T] and W_l[S,N,T] (SPEC §7)."""
    a = np.asarray(a, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    m_rows, k = a.shape
    n_cols = w.shape[1]
    steps = k_steps(k, mode)
    a_pad = np.zeros((m_rows, steps * mode), dtype=np.int64)
    a_pad[:, :k] = a
    w_pad = np.zeros((steps * mode, n_cols), dtype=np.int64)
    w_pad[:k] = w
    a_lanes = np.zeros((m_rows, steps, threads), dtype=np.int64)
    w_lanes = np.zeros((steps, n_cols, threads), dtype=np.int64)
    a_lanes[:, :, :mode] = a_pad.reshape(m_rows, steps, mode)
    w_lanes[:, :, :mode] = w_pad.reshape(steps, mode, n_cols).transpose(0, 2, 1)
    return a_lanes, w_lanes


def error_stats(result, exact) -> dict:
    """Output error of a GEMM against its exact product (SPEC §8).

    rel_frobenius is ||C - exact|| / ||exact||: 0.0 when both are zero, None (JSON null)
    when only the exact product is zero, where the ratio is undefined.
    """
    diff = np.asarray(result, dtype=np.float64) - np.asarray(exact, dtype=np.float64)
    norm = float(np.linalg.norm(np.asarray(exact, dtype=np.float64)))
    err = float(np.linalg.norm(diff))
    return {
        "max_abs": float(np.abs(diff).max()) if diff.size else 0.0,
        "mean_abs": float(np.abs(diff).mean()) if diff.size else 0.0,
        "mse": float((diff ** 2).mean()) if diff.size else 0.0,
        "rel_frobenius": (err / norm) if norm else (0.0 if err == 0 else None),
    }


@dataclasses.dataclass
class GemmResult:
    output: np.ndarray  # int64 [M, N], wrapped to acc_bits
    stats: dict


def gemm_stats(*, shape, threads, mode, policy, pe_cycles_by_active, full_macs,
               reduced_exact, reduced_lossy, output, exact) -> dict:
    """Assemble the SPEC §8 statistics record (shared by the golden model and emulator)."""
    m_rows, k, n_cols = shape
    steps = k_steps(k, mode)
    by_active = [int(x) for x in pe_cycles_by_active]
    return {
        "shape": {"M": m_rows, "K": k, "N": n_cols},
        "threads": threads,
        "mode": mode,
        "policy": policy.as_dict(),
        "k_steps": steps,
        "k_steps_mode1": k,
        "speedup_vs_mode1": k / steps,
        "pe_cycles": m_rows * n_cols * steps,
        "pe_cycles_by_active": by_active,
        "collision_rate": (sum(by_active[2:]) / sum(by_active)) if sum(by_active) else 0.0,
        "macs": int(full_macs + reduced_exact + reduced_lossy),
        "macs_full": int(full_macs),
        "macs_reduced_exact": int(reduced_exact),
        "macs_reduced_lossy": int(reduced_lossy),
        "error": error_stats(output, exact),
    }


def block_shape(k: int, n_cols: int, mode: int, per_k_and_n: int, budget: int) -> tuple[int, int]:
    """(K, N) extent of one operand block such that per_k_and_n * K * N <= budget (as
    near as one K-step and one column allow). K is a whole number of K-steps, so blocks
    add up to the whole GEMM; K shrinks only when not even ~512 columns would fit."""
    steps = k_steps(k, mode)
    step_cost = per_k_and_n * mode
    s_block = min(steps, max(1, budget // (step_cost * min(n_cols, 512))))
    return s_block * mode, min(n_cols, max(1, budget // (step_cost * s_block)))


def golden_gemm(a, w, *, threads: int, mode: int | None = None,
                policy: Policy | None = None) -> GemmResult:
    """Bit-exact NB-SMT GEMM of unsigned A[M,K] by signed W[K,N] with its statistics.

    Memory: the operands as given, C and the exact product ([M,N] int64 each), plus one
    block of at most _CHUNK_ELEMENTS PE-lane-cycles at a time (blocks over K and N, rows
    of A within a block; about 60 bytes per element, ~250 MB).
    """
    threads, mode, policy = resolve_run(threads, mode, policy)
    a, w = np.asarray(a), np.asarray(w)
    m_rows, k = a.shape
    n_cols = w.shape[1]
    k_block, n_block = block_shape(k, n_cols, mode, threads, _CHUNK_ELEMENTS)
    out = np.zeros((m_rows, n_cols), dtype=np.int64)
    exact = np.zeros((m_rows, n_cols), dtype=np.int64)
    by_active = np.zeros(threads + 1, dtype=np.int64)
    counts = np.zeros(3, dtype=np.int64)   # full, reduced exact, reduced lossy MACs
    for n0 in range(0, n_cols, n_block):
        for k0 in range(0, k, k_block):
            a_k = a[:, k0:k0 + k_block].astype(np.int64)
            w_kn = w[k0:k0 + k_block, n0:n0 + n_block].astype(np.int64)
            _golden_block(a_k, w_kn, threads, mode, policy, out[:, n0:n0 + n_block],
                          by_active, counts)
            exact[:, n0:n0 + n_block] += a_k @ w_kn
    out = wrap(out, policy.acc_bits)
    stats = gemm_stats(shape=(m_rows, k, n_cols), threads=threads, mode=mode, policy=policy,
                       pe_cycles_by_active=by_active, full_macs=counts[0],
                       reduced_exact=counts[1], reduced_lossy=counts[2], output=out, exact=exact)
    return GemmResult(out, stats)


def _golden_block(a, w, threads: int, mode: int, policy: Policy, out, by_active, counts):
    """Add the PE contributions of int64 A[M,K'] x W[K',N'] to `out` (unwrapped), their
    activity histogram to `by_active` and their MAC counts to `counts`."""
    a_lanes, w_lanes = lane_operands(a, w, threads, mode)
    steps, n_cols = w_lanes.shape[:2]
    rows_per_chunk = max(1, _CHUNK_ELEMENTS // max(1, steps * n_cols * threads))
    for r0 in range(0, a.shape[0], rows_per_chunk):
        block = a_lanes[r0:r0 + rows_per_chunk]
        c = contribution(block[:, :, None, :], w_lanes[None, :, :, :], policy)
        out[r0:r0 + rows_per_chunk] += c.value.sum(axis=1)
        by_active += np.bincount(c.active.ravel(), minlength=threads + 1)[:threads + 1]
        counts += [int(c.full_macs.sum()), int(c.reduced_exact.sum()),
                   int(c.reduced_lossy.sum())]
