"""Loading and validating GEMM operand files (A[M,K] activations, W[K,N] weights).

Shared by every command that takes `--a/--w`, so each bad input gets the same one-line
message naming the file and the problem.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nbsmt.core.policy import Policy

from nbsmt.core.errors import InputError

#: numpy dtype kinds accepted as operands: signed, unsigned integers and booleans (0/1).
INTEGER_KINDS = "iub"


def check_matrix(array, where: str) -> np.ndarray:
    """`array` as a 2-D, non-empty integer ndarray; InputError naming `where` if it is not."""
    if not isinstance(array, np.ndarray):
        raise InputError(f"{where}: not a single array")
    if array.dtype.kind not in INTEGER_KINDS:   # timedelta64 is an integer to numpy
        raise InputError(f"{where}: dtype {array.dtype} is not an integer type")
    if array.ndim != 2:
        raise InputError(f"{where}: expected a 2-D array, got shape {array.shape}")
    if 0 in array.shape:
        raise InputError(f"{where}: empty array of shape {array.shape}")
    return array


def load_matrix(path, option: str) -> np.ndarray:
    """Load a 2-D integer .npy array; raise InputError naming `option` and the file."""
    path = Path(path)
    where = f"{option} {path}"
    if path.is_dir():
        raise InputError(f"{where}: is a directory, not a .npy file")
    if not path.is_file():
        raise InputError(f"{where}: no such file")
    try:
        array = np.load(path, allow_pickle=False)
    except MemoryError:
        raise InputError(f"{where}: its {path.stat().st_size:,} bytes do not fit in this "
                         f"machine's memory") from None
    except Exception as exc:  # numpy raises several types for a non-.npy file
        raise InputError(f"{where}: not a readable .npy array ({exc.__class__.__name__})") from None
    return check_matrix(array, where)


def check_range(array: np.ndarray, low: int, high: int, where: str) -> np.ndarray:
    """Return `array` in the narrowest integer dtype holding [low, high], after checking
    every value lies there (narrow: large operands stay as small as their file)."""
    array = array.astype(np.int8, copy=False) if array.dtype == np.bool_ else array
    if not (int(array.min()) >= low and int(array.max()) <= high):
        bad = (array < low) | (array > high)
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InputError(f"{where}: value {array[idx]} at {idx} is outside [{low}, {high}]")
    return array.astype(np.promote_types(np.min_scalar_type(low), np.min_scalar_type(high)),
                        copy=False)


def check_operands(a, w, policy: Policy, names=("A", "W")):
    """Validate types, shapes and ranges of A[M,K], W[K,N] for `policy`; return them in
    the narrowest integer dtypes (uint8 / int8 for 8-bit operands).

    The one operand check of every entry point (CLI files, golden model users, the
    emulator).
    """
    a = check_matrix(np.asarray(a), names[0])
    w = check_matrix(np.asarray(w), names[1])
    a = check_range(a, 0, (1 << policy.act_bits) - 1, f"{names[0]} (unsigned activations)")
    half = 1 << (policy.weight_bits - 1)
    w = check_range(w, -half, half - 1, f"{names[1]} (signed weights)")
    if a.shape[1] != w.shape[0]:
        raise InputError(f"K mismatch: {names[0]} is [M,K]={list(a.shape)} "
                         f"but {names[1]} is [K,N]={list(w.shape)}")
    return a, w


def load_operands(a_path, w_path, policy: Policy, flags=("--a", "--w")):
    """Load and validate the A and W files of `flags` (messages name them); return A[M,K],
    W[K,N] (see check_operands)."""
    a = load_matrix(a_path, flags[0])
    w = load_matrix(w_path, flags[1])
    return check_operands(a, w, policy, names=(f"{flags[0]} {a_path}", f"{flags[1]} {w_path}"))

