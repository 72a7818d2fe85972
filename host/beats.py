"""Packing lane values into the flat bit vectors the RTL's ports and stream beats carry.

One packer for every bench: the array's input/output beats (`pack`/`unpack` over an
`ArrayFormat`'s fields, as bytes) and a PE's lane buses (`pack_lanes`, as Python ints).
Bit 0 of element 0 first, two's complement, little-endian bytes.
"""

from __future__ import annotations

import numpy as np


def to_bits(values: np.ndarray, width: int) -> np.ndarray:
    """[..., n] integers -> [..., n*width] bits, element 0 and bit 0 first (two's complement)."""
    v = np.asarray(values, dtype=np.int64) & ((1 << width) - 1)
    bits = (v[..., None] >> np.arange(width, dtype=np.int64)) & 1
    return bits.reshape(*v.shape[:-1], v.shape[-1] * width).astype(np.uint8)


def from_bits(bits: np.ndarray, width: int, signed: bool) -> np.ndarray:
    """Inverse of `to_bits`: [..., n*width] bits -> [..., n] int64."""
    b = bits.reshape(*bits.shape[:-1], -1, width).astype(np.int64)
    v = (b << np.arange(width, dtype=np.int64)).sum(axis=-1)
    if signed:
        v = np.where(v >= (1 << (width - 1)), v - (1 << width), v)
    return v


def pack(fields: list[tuple[str, int]], values: dict[str, np.ndarray], count: int) -> np.ndarray:
    """Pack per-beat field values ([count, n] each, n elements of width/n bits) into
    little-endian bytes [count, ceil(bits/8)]."""
    parts = []
    for name, width in fields:
        v = np.asarray(values[name], dtype=np.int64).reshape(count, -1)
        parts.append(to_bits(v, width // v.shape[1]))
    bits = np.concatenate(parts, axis=1)
    return np.packbits(bits, axis=1, bitorder="little")


def unpack(fields: list[tuple[str, int]], data: np.ndarray, lanes: dict[str, int],
           signed: set[str] = frozenset()) -> dict[str, np.ndarray]:
    """Inverse of `pack`: bytes [count, nbytes] -> {name: [count, lanes[name]]}."""
    bits = np.unpackbits(np.asarray(data, dtype=np.uint8), axis=1, bitorder="little")
    out, pos = {}, 0
    for name, width in fields:
        n = lanes.get(name, 1)
        out[name] = from_bits(bits[:, pos:pos + width], width // n, name in signed)
        pos += width
    return out


def as_ints(packed: np.ndarray) -> list[int]:
    """Rows of little-endian bytes [count, nbytes] -> one Python int per row (a port value)."""
    return [int.from_bytes(row.tobytes(), "little") for row in np.asarray(packed, dtype=np.uint8)]


def from_int(value: int, nbytes: int) -> np.ndarray:
    """Inverse of `as_ints` for one row: a port value -> uint8 [nbytes]."""
    return np.frombuffer(int(value).to_bytes(nbytes, "little"), dtype=np.uint8)


def pack_lanes(lanes, bits: int) -> list[int]:
    """[N, T] lane values -> N Python ints, lane t at bits [t*bits, (t+1)*bits).

    Python ints, not int64: four 16-bit lanes fill all 64 bits.
    """
    lanes = np.asarray(lanes, dtype=np.int64)
    count, threads = lanes.shape
    return as_ints(pack([("lanes", threads * bits)], {"lanes": lanes}, count))
