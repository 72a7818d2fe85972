"""Fast exact NB-SMT GEMM: the golden model's output and statistics at matrix-multiply speed.

`emulate_gemm` returns, bit for bit, what `golden_gemm` returns (output, and the SPEC §8
record assembled by the same `gemm_stats`) for every policy, thread count and mode, but
it never materializes the [M, S, N, T] tensor of PE-cycles. Why that is possible:

1. Activity is separable. Lane t of PE-cycle (i, j, s) is active iff x_t = alpha_t(i,s) *
   beta_t(s,j), with alpha = [a != 0] and beta = [w != 0] (beta = 1 for zero_skip="act").

2. The contribution is the exact product minus corrections that depend only on how many
   *other* lanes are active (SPEC §6). For an active lane t, with d = a - Ra(a) and
   dw = w - Rw(w):  used_a * used_w = a*w - [n>=2] d*w - [n>=3] Ra(a)*dw.  An inactive
   lane has a = 0 (so d = Ra = 0) or w = 0 (so w = dw = 0): every term vanishes without
   the factor x_t, hence

       C = A @ W - sum_t sum_s ( d_t w_t * O1_t + Ra_t dw_t * O2_t )

   with O1_t = [at least one other lane active], O2_t = [at least two]. By
   inclusion-exclusion over subsets U of the other lanes, with X_U = prod_{u in U} x_u:
     mode 2: O1 = X_{u};  O2 = 0
     mode 4: O1 = sum_{|U|=1} X_U - sum_{|U|=2} X_U + X_{all 3}
             O2 = sum_{|U|=2} X_U - 2 X_{all 3}
   Each X_U = (prod alpha_U)(i,s) * (prod beta_U)(s,j) is an A-side mask times a W-side
   mask, so every term is an ordinary product of a masked lane of A ([M, S]) by a
   masked lane of W ([S, N]), signs and the 2 folded into the W side. The terms are
   stacked along the inner dimension behind the m lanes of the exact product itself
   (which the error statistics need anyway), so the whole GEMM is one matrix product
   [M, L*S] @ [L*S, N] (K = m*S), split only where exactness demands (below):
     mode 1: L*S = K (the exact product alone)
     mode 2: 2 K (exact + one term per lane)
     mode 4, zero_skip="both": 12 K (exact + 7 O1 + 4 O2 terms per lane; these are all
       the nonempty subsets, and O1's 8x8 pattern matrix over the other lanes' (alpha,
       beta) has rank 7, so no separable grouping needs fewer)
     zero_skip="act": beta = 1, so all subsets of a lane merge into the A-only masks
       [>=1 other active] and [>=2 others]: 2 K (mode 2) or 3 K (mode 4).

3. Statistics need no matrix product over K. Every per-cycle fact (n, full MAC, exact or
   lossy reduction) is a function of an A-side code per (i, s) (alpha bit t and
   [Ra(a) != a] bit 4+t of each lane t) and a W-side code per (s, j) (beta and
   [Rw(w) != w] bits). With per-step histograms hA[s, code] and hW[s, code], the number
   of PE-cycles with codes (p, q) is P = hA.T @ hW, and each statistic is
   sum(P * table[p, q]).

Exactness. The products run in BLAS floating point on integer operands, cut along the
inner dimension so that every partial sum stays an exactly representable integer
(`nbsmt.sim.exact_matmul`: float32 chunks of ~500 K-columns of an 8-bit exact product,
thousands of correction columns since |d| <= 15 and |dw| <= 8, or float64 for wide
operands). Chunk results are added in int64 and wrapped to the accumulator width at the
end, as the golden model does (wrapping is modular, so sum-then-wrap equals the
per-cycle wrap).

Speed. A is processed in blocks of rows in a lane-major layout ([t, s, row]: strided
lane views are several times slower) and every per-block array lives in buffers reused
across blocks (first-touch page faults of fresh large arrays cost more than the
arithmetic on this kind of machine).

Operands must be in range (0 <= a < 2^A, -2^(W-1) <= w < 2^(W-1)): Ra, Rw and the
per-value facts come from lookup tables over every representable value.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import threading

import numpy as np

from nbsmt.sim.arith import reduce_activation, reduce_weight, wrap
from nbsmt.core.operands import check_operands
from nbsmt.sim.exact_matmul import MAX_INNER, abs_max, matmul_plan
from nbsmt.sim.gemm import GemmResult, block_shape, gemm_stats, k_steps
from nbsmt.core.policy import ACT_REDUCTION_LANES, WEIGHT_REDUCTION_LANES, Policy, resolve_run

# Rows of A per block: as many as keep one chunk of the stacked A side within
# _BLOCK_ELEMENTS (fewer, larger BLAS calls are much faster on a busy machine, where
# every multi-threaded BLAS call pays for waking its threads), and at least _MIN_ROWS.
_BLOCK_ELEMENTS = 1 << 21
_MIN_ROWS = 256
_ROWS = None  # fixed rows per block (tests force small blocks); None: the rule above
_W_BLOCK = 1 << 23  # floats of one block's stacked W side (emulate_gemm blocks K and N)
_LOSSY_BIT = 4  # codes: activity in bit t, lossy reduction in bit 4 + t (m <= 4 lanes)


@dataclasses.dataclass(frozen=True)
class _Tables:
    """Per-value facts of every representable activation and weight (index w + 2^(W-1))."""

    a_d: np.ndarray       # float32, a - Ra(a)
    a_ra: np.ndarray      # float32, Ra(a)
    a_code: np.ndarray    # uint8, [a != 0] | [Ra(a) != a] << 4
    w_dw: np.ndarray      # float32, w - Rw(w)
    w_code: np.ndarray    # uint8, [w != 0] | [Rw(w) != w] << 4
    w_offset: int


@functools.lru_cache(maxsize=32)
def _tables(policy: Policy) -> _Tables:
    a = np.arange(1 << policy.act_bits, dtype=np.int64)
    ra = reduce_activation(a, policy)
    half = 1 << (policy.weight_bits - 1)
    w = np.arange(-half, half, dtype=np.int64)
    rw = reduce_weight(w, policy)
    return _Tables(
        a_d=(a - ra).astype(np.float32),
        a_ra=ra.astype(np.float32),
        a_code=((a != 0) | ((ra != a) << _LOSSY_BIT)).astype(np.uint8),
        w_dw=(w - rw).astype(np.float32),
        w_code=((w != 0) | ((rw != w) << _LOSSY_BIT)).astype(np.uint8),
        w_offset=half,
    )


# ----------------------------------------------------------------------------------------
# Operands


def _as_operands(a, w, policy: Policy):
    """Validated operands (`nbsmt.core.operands.check_operands`) in the narrowest integer dtype."""
    a, w = check_operands(a, w, policy)
    a = a.astype(np.uint8 if policy.act_bits <= 8 else np.uint16, copy=False)
    w = w.astype(np.int8 if policy.weight_bits <= 8 else np.int16, copy=False)
    return a, w


def _lanes(x, mode: int, axis: int) -> np.ndarray:
    """Lane-major copy [t, s, i] of A[i, s*m + t] (axis=1) or of W[s*m + t, i] (axis=0).

    K is zero-padded to a multiple of m (padded lanes are never active).
    """
    if axis == 0:
        x = x.T
    rows, k = x.shape
    steps = k_steps(k, mode)
    if steps * mode != k:
        x = np.concatenate([x, np.zeros((rows, steps * mode - k), dtype=x.dtype)], axis=1)
    return np.ascontiguousarray(x.reshape(rows, steps, mode).transpose(2, 1, 0))


# ----------------------------------------------------------------------------------------
# Work arrays reused across row blocks and calls


_WORKSPACE = threading.local()


def _workspace(name: str, shape, dtype=np.float32) -> np.ndarray:
    """A per-thread work array of this shape, reusing memory (grown when needed).

    Reuse matters: a fresh multi-MB array costs first-touch page faults on every call,
    more than the arithmetic done in it. The arrays are per thread, so concurrent
    emulate_gemm calls never share one.
    """
    store = _WORKSPACE.__dict__.setdefault("arrays", {})
    size = int(np.prod(shape))
    buf = store.get((name, np.dtype(dtype).str))
    if buf is None or buf.size < size:
        buf = store[(name, np.dtype(dtype).str)] = np.empty(max(size, 1), dtype=dtype)
    return buf[:size].reshape(shape)


# ----------------------------------------------------------------------------------------
# The stacked product (point 2 of the module docstring)


@dataclasses.dataclass(frozen=True)
class _Term:
    """One [S]-long block of the inner dimension: (value_t * A mask) against a W block."""

    lane: int
    kind: str          # A-side value: "a" (exact product), "d" (O1 terms), "ra" (O2 terms)
    subset: tuple = ()  # zero_skip="both": other lanes U whose masks multiply both sides
    at_least: int = 0   # zero_skip="act": A mask [>= at_least other lanes active]
    coef: int = 1       # folded into the W side


def _terms(mode: int, policy: Policy) -> tuple[list[_Term], list[_Term]]:
    """(exact terms, correction terms) of a mode; corrections carry the minus sign."""
    exact = [_Term(t, "a") for t in range(mode)]
    corr = []
    weights_reduced = policy.reduces_weights(mode)   # some cycle can have n >= 3
    for t in range(mode if policy.reduces_activations(mode) else 0):
        others = [u for u in range(mode) if u != t]
        if not policy.zero_weight_idles:   # activity is A's alone: A-only count masks
            corr.append(_Term(t, "d", at_least=ACT_REDUCTION_LANES - 1, coef=-1))
            if weights_reduced:
                corr.append(_Term(t, "ra", at_least=WEIGHT_REDUCTION_LANES - 1, coef=-1))
            continue
        for size in range(1, len(others) + 1):
            for subset in itertools.combinations(others, size):
                corr.append(_Term(t, "d", subset, coef=-1 if size % 2 else 1))
        if weights_reduced:
            for subset in itertools.combinations(others, 2):
                corr.append(_Term(t, "ra", subset, coef=-1))
            corr.append(_Term(t, "ra", tuple(others), coef=2))
    return exact, corr


class _StackedProduct:
    """All terms of one GEMM: W side built once, A side built per block of rows.

    Calling it on a lane-major block a_l[m, S, rows] returns (exact, value) for those rows
    as int64 (value unwrapped).
    """

    def __init__(self, w_l, policy: Policy, tab: _Tables):
        mode, steps, n_cols = w_l.shape
        self.steps = steps
        self.weight_masks, self.tab = policy.zero_weight_idles, tab
        exact_terms, corr_terms = _terms(mode, policy)
        self.terms = exact_terms + corr_terms
        self.kinds = {t.kind for t in self.terms}
        # Exactness bounds from cheap data-independent caps where masks only shrink
        # values: max |w| per row of a lane (int8 data), the tables' max |dw|, |d|, Ra.
        w_rowmax = abs_max(w_l.reshape(mode * steps, n_cols), axis=1).reshape(mode, steps)
        w_max = {"a": w_rowmax, "d": w_rowmax,
                 "ra": np.full((mode, steps), int(np.abs(tab.w_dw).max()), dtype=np.int64)}
        a_max = {"a": (1 << policy.act_bits) - 1, "d": int(np.abs(tab.a_d).max()),
                 "ra": int(tab.a_ra.max())}
        bound = np.concatenate([w_max[t.kind][t.lane] * a_max[t.kind] * abs(t.coef)
                                for t in self.terms])
        split = len(exact_terms) * steps
        self.plan = []  # separate plans keep the exact product a sum of whole chunks
        for lo, hi in ((0, split), (split, bound.size)):
            if hi > lo:
                chunks, dtype = matmul_plan(bound[lo:hi], max_len=MAX_INNER)
                self.plan += [(lo + c0, lo + c1, dtype) for c0, c1 in chunks]
        self.split = split
        # The stacked W side, written block by block into one array.
        self.g = np.empty((len(self.terms) * steps, n_cols), dtype=np.float32)
        values = {"a": w_l}
        if "ra" in self.kinds:
            values["ra"] = np.take(tab.w_dw, w_l.astype(np.intp) + tab.w_offset)
        beta = (w_l != 0).astype(np.float32) if policy.zero_weight_idles else None
        masks = {}
        for i, term in enumerate(self.terms):
            dest = self.g[i * steps:(i + 1) * steps]
            src = values["ra" if term.kind == "ra" else "a"][term.lane]
            if not term.subset:
                np.copyto(dest, src, casting="unsafe")
            else:
                mask = masks.get(term.subset)
                if mask is None:
                    mask = beta[term.subset[0]]
                    if len(term.subset) > 1:
                        mask = masks[term.subset[:-1]] * beta[term.subset[-1]]
                    masks[term.subset] = mask
                np.multiply(src, mask, out=dest, casting="unsafe")
            if term.coef != 1:
                dest *= term.coef
        self.g_by_dtype = {dt: self.g if dt == np.float32 else self.g.astype(dt)
                           for dt in {p[2] for p in self.plan}}
        self._buffer = _workspace

    def _masks(self, a_l):
        """Per term, the [S, rows] A-side array its value is multiplied by (None: 1)."""
        mode, steps, rows = a_l.shape
        alpha = self._buffer("alpha", a_l.shape)
        np.not_equal(a_l, 0, out=alpha, casting="unsafe")
        out, cache = [], {}
        if not self.weight_masks:
            count = alpha.sum(axis=0)
        for term in self.terms:
            if term.kind == "a":
                out.append(None)
                continue
            if not self.weight_masks:
                key = (term.lane, term.at_least)
                if key not in cache:
                    mask = self._buffer(f"m{len(cache)}", (steps, rows))
                    np.subtract(count, alpha[term.lane], out=mask)
                    np.greater_equal(mask, term.at_least, out=mask, casting="unsafe")
                    cache[key] = mask
                out.append(cache[key])
                continue
            mask = cache.get(term.subset)
            if mask is None:
                if len(term.subset) == 1:
                    mask = alpha[term.subset[0]]
                else:
                    mask = self._buffer(f"m{len(cache)}", (steps, rows))
                    np.multiply(cache[term.subset[:-1]], alpha[term.subset[-1]], out=mask)
                cache[term.subset] = mask
            out.append(mask)
        return out

    def __call__(self, a_l):
        mode, steps, rows = a_l.shape
        values = {"a": a_l}
        for kind in self.kinds - {"a"}:
            table = self.tab.a_d if kind == "d" else self.tab.a_ra
            values[kind] = np.take(table, a_l, out=self._buffer(kind, a_l.shape), mode="clip")
        masks = self._masks(a_l)
        n_cols = self.g.shape[1]
        exact = np.zeros((rows, n_cols), dtype=np.int64)
        value = np.zeros((rows, n_cols), dtype=np.int64)
        longest = max(hi - lo for lo, hi, _ in self.plan)
        for lo, hi, dtype in self.plan:
            f_t = self._buffer("f", (longest, rows))[:hi - lo]  # F transposed
            for i in range(lo // steps, -(-hi // steps)):
                s0, s1 = max(lo - i * steps, 0), min(hi - i * steps, steps)
                term, dest = self.terms[i], f_t[i * steps + s0 - lo:i * steps + s1 - lo]
                src = values[term.kind][term.lane, s0:s1]
                if masks[i] is None:
                    np.copyto(dest, src, casting="unsafe")
                else:
                    np.multiply(src, masks[i][s0:s1], out=dest)
            part = (f_t.T.astype(dtype, copy=False) @ self.g_by_dtype[dtype][lo:hi])
            part = part.astype(np.int64)
            value += part
            if hi <= self.split:
                exact += part
        return exact, value


# ----------------------------------------------------------------------------------------
# Statistics (point 3 of the module docstring)


@functools.lru_cache(maxsize=None)
def _code_tables(mode: int):
    """n, reduced-MAC and lossy-MAC counts for every pair of (A code, W code)."""
    size = 1 << (_LOSSY_BIT + mode)
    p = np.arange(size)[:, None]
    q = np.arange(size)[None, :]
    on = [(p >> t) & (q >> t) & 1 for t in range(mode)]
    n = sum(on)
    lossy = sum(on[t] * (Policy.reduces_activations(n) & ((p >> (_LOSSY_BIT + t)) & 1 == 1)
                         | Policy.reduces_weights(n) & ((q >> (_LOSSY_BIT + t)) & 1 == 1))
                for t in range(mode))
    reduced = np.where(Policy.reduces_activations(n), n, 0)
    return n, reduced, lossy


def _codes(base: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Combine per-value codes base[t, s, x] (bits 0 and 4) of the lanes: lane t -> bits t, 4+t."""
    np.copyto(out, base[0])
    for t in range(1, base.shape[0]):
        out += base[t] << t
    return out


def _histogram(code: np.ndarray, mode: int) -> np.ndarray:
    """hist[s, c]: how many of code[s, :] equal c."""
    steps = code.shape[0]
    size = 1 << (_LOSSY_BIT + mode)
    flat = np.add(code, (np.arange(steps, dtype=np.intp) * size)[:, None], dtype=np.intp)
    return np.bincount(flat.ravel(), minlength=steps * size).reshape(steps, size)


def _counts(h_a, h_w, mode: int):
    """PE-cycles by n, full, reduced-exact and reduced-lossy MACs from the code histograms."""
    # Entries are at most M * N * S < 2^53, so this float64 product is exact.
    pairs = np.rint(h_a.astype(np.float64).T @ h_w.astype(np.float64)).astype(np.int64)
    n, reduced, lossy = _code_tables(mode)
    by_active = [int(pairs[n == i].sum()) for i in range(mode + 1)]
    lossy_total = int((pairs * lossy).sum())
    reduced_total = int((pairs * reduced).sum())
    return by_active, by_active[1], reduced_total - lossy_total, lossy_total


# ----------------------------------------------------------------------------------------


def emulate_gemm(a, w, *, threads: int, mode: int | None = None,
                 policy: Policy | None = None) -> GemmResult:
    """NB-SMT GEMM of unsigned A[M,K] by signed W[K,N]: golden_gemm's result, fast.

    Memory: the operands, C and the exact product ([M,N] int64 each), plus one block
    over K and N whose stacked W side holds at most _W_BLOCK floats (~32-96 MB) and the
    per-row-block work arrays. Blocks add up exactly: outputs and counts are sums over
    K-steps and columns.

    Raises `nbsmt.core.errors.InputError` (a ValueError) for non-integer, mismatched or empty
    operands and for values outside the policy's widths.
    """
    threads, mode, policy = resolve_run(threads, mode, policy)
    a, w = _as_operands(a, w, policy)
    m_rows, k = a.shape
    n_cols = w.shape[1]
    exact_terms, corr_terms = _terms(mode, policy)
    k_block, n_block = block_shape(k, n_cols, mode, -(-len(exact_terms + corr_terms) // mode),
                                   _W_BLOCK)
    exact = np.zeros((m_rows, n_cols), dtype=np.int64)
    value = np.zeros((m_rows, n_cols), dtype=np.int64)
    counts = np.zeros(mode + 4, dtype=np.int64)   # by_active[0..m], full, exact, lossy
    for n0 in range(0, n_cols, n_block):
        for k0 in range(0, k, k_block):
            part = _emulate_block(a[:, k0:k0 + k_block], w[k0:k0 + k_block, n0:n0 + n_block],
                                  mode, policy)
            exact[:, n0:n0 + n_block] += part[0]
            value[:, n0:n0 + n_block] += part[1]
            counts += part[2]
    out = wrap(value, policy.acc_bits)
    by_active = counts[:mode + 1].tolist()
    stats = gemm_stats(shape=(m_rows, k, n_cols), threads=threads, mode=mode, policy=policy,
                       pe_cycles_by_active=by_active + [0] * (threads - mode),
                       full_macs=counts[mode + 1], reduced_exact=counts[mode + 2],
                       reduced_lossy=counts[mode + 3], output=out, exact=exact)
    return GemmResult(out, stats)


def _emulate_block(a, w, mode: int, policy: Policy):
    """(exact product, unwrapped value, [by_active..., full, reduced exact, reduced lossy])
    of one operand block, in the narrow dtypes of `_as_operands`."""
    m_rows = a.shape[0]
    n_cols = w.shape[1]
    tab = _tables(policy)

    w_l = _lanes(w, mode, axis=0)
    product = _StackedProduct(w_l, policy, tab)
    w_base = tab.w_code[w_l.astype(np.intp) + tab.w_offset]
    if not policy.zero_weight_idles:
        w_base |= 1  # every weight lane counts as non-zero: activity is A's alone
    h_w = _histogram(_codes(w_base, np.empty(w_base.shape[1:], np.uint8)), mode)

    exact = np.empty((m_rows, n_cols), dtype=np.int64)
    value = np.empty((m_rows, n_cols), dtype=np.int64)
    h_a = np.zeros_like(h_w)
    longest = max(hi - lo for lo, hi, _ in product.plan)
    block = _ROWS or max(_MIN_ROWS, _BLOCK_ELEMENTS // longest)
    for r0 in range(0, m_rows, block):
        r1 = min(m_rows, r0 + block)
        a_l = _lanes(a[r0:r1], mode, axis=1)
        exact[r0:r1], value[r0:r1] = product(a_l)
        base = np.take(tab.a_code, a_l, out=_workspace("base", a_l.shape, np.uint8), mode="clip")
        h_a += _histogram(_codes(base, _workspace("code", a_l.shape[1:], np.uint8)), mode)
    by_active, full, reduced_exact, reduced_lossy = _counts(h_a, h_w, mode)
    return exact, value, np.array(by_active + [full, reduced_exact, reduced_lossy])
