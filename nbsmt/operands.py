"""Loading and validating GEMM operand files (A[M,K] activations, W[K,N] weights).

Shared by every command that takes `--a/--w`, so each bad input gets the same one-line
message naming the file and the problem.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nbsmt.policy import Policy

from nbsmt.errors import InputError


def load_matrix(path, option: str) -> np.ndarray:
    """Load a 2-D integer .npy array; raise InputError naming `option` and the file."""
    path = Path(path)
    where = f"{option} {path}"
    if not path.is_file():
        raise InputError(f"{where}: no such file")
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises several types for a non-.npy file
        raise InputError(f"{where}: not a readable .npy array ({exc.__class__.__name__})") from None
    if not isinstance(array, np.ndarray):
        raise InputError(f"{where}: not a single .npy array")
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise InputError(f"{where}: dtype {array.dtype} is not an integer type")
    if array.ndim != 2:
        raise InputError(f"{where}: expected a 2-D array, got shape {array.shape}")
    if 0 in array.shape:
        raise InputError(f"{where}: empty array of shape {array.shape}")
    return array


def check_range(array: np.ndarray, low: int, high: int, where: str) -> np.ndarray:
    """Return `array` as int64 after checking every value lies in [low, high]."""
    bad = (array < low) | (array > high)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InputError(f"{where}: value {array[idx]} at {idx} is outside [{low}, {high}]")
    return array.astype(np.int64)


def check_operands(a: np.ndarray, w: np.ndarray, policy: Policy, names=("A", "W")):
    """Validate ranges and shapes of in-memory operands for `policy`; return int64 copies."""
    a = check_range(a, 0, (1 << policy.act_bits) - 1, f"{names[0]} (unsigned activations)")
    half = 1 << (policy.weight_bits - 1)
    w = check_range(w, -half, half - 1, f"{names[1]} (signed weights)")
    if a.shape[1] != w.shape[0]:
        raise InputError(f"K mismatch: {names[0]} is [M,K]={list(a.shape)} "
                         f"but {names[1]} is [K,N]={list(w.shape)}")
    return a, w


def load_operands(a_path, w_path, policy: Policy):
    """Load and validate --a and --w files; return int64 A[M,K], W[K,N]."""
    a = load_matrix(a_path, "--a")
    w = load_matrix(w_path, "--w")
    return check_operands(a, w, policy, names=(f"--a {a_path}", f"--w {w_path}"))


#: The `make sim` demo GEMM (bench/sim_demo.py) and `nbsmt energy --demo`.
DEMO_SHAPE = (64, 256, 64)


def demo_operands(seed: int = 2020, shape=DEMO_SHAPE, zero_activations: float = 0.5):
    """ReLU-like activations (`zero_activations` of them zero, ~70 % of the rest below 16)
    and 40 %-pruned bell-shaped weights: the demo GEMM, at any activation sparsity."""
    rng = np.random.default_rng(seed)
    m_rows, k, n_cols = shape
    small = rng.integers(1, 16, (m_rows, k))
    large = np.clip(np.round(rng.exponential(40, (m_rows, k))) + 16, 16, 255).astype(np.int64)
    a = np.where(rng.random((m_rows, k)) < 0.7, small, large)
    a = np.where(rng.random((m_rows, k)) < zero_activations, 0, a)
    w = np.clip(np.round(rng.normal(0, 32, (k, n_cols))), -128, 127).astype(np.int64)
    w = np.where(rng.random((k, n_cols)) < 0.4, 0, w)
    return a, w
