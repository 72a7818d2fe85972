"""Packing lane values into the flat bit vectors the RTL's ports and stream beats carry.

One packer for every bench: the array's input/output beats (`pack`/`unpack` over an
`ArrayFormat`'s fields, as bytes) and a PE's lane buses (`pack_lanes`, as Python ints).
Bit 0 of element 0 first, two's complement, little-endian bytes.
"""

from __future__ import annotations

import numpy as np


def to_bits(values: np.ndarray, width: int) -> np.ndarray:
    """[..., n] integers -> [..., n*width] bits, element 0 and bit 0 first (two's complement)."""
    if not 1 <= width <= 64:
        raise ValueError(f"a field of {width} bits does not fit a 64-bit lane")
    # two's complement in the narrowest unsigned type that holds `width` bits: the shifts
    # and masks then touch 1-8 bytes per bit instead of 8 (memory-bound on long jobs)
    lane = np.dtype(f"u{next(n for n in (1, 2, 4, 8) if 8 * n >= width)}")
    v = (np.asarray(values, dtype=np.int64) & ((1 << width) - 1) if width < 64
         else np.asarray(values, dtype=np.int64)).astype(lane)
    bits = ((v[..., None] >> np.arange(width, dtype=lane)) & lane.type(1)).astype(np.uint8)
    return bits.reshape(*v.shape[:-1], v.shape[-1] * width)


def from_bits(bits: np.ndarray, width: int, signed: bool) -> np.ndarray:
    """Inverse of `to_bits`: [..., n*width] bits -> [..., n] int64."""
    b = bits.reshape(*bits.shape[:-1], -1, width).astype(np.int64)
    v = (b << np.arange(width, dtype=np.int64)).sum(axis=-1)
    if signed:
        v = np.where(v >= (1 << (width - 1)), v - (1 << width), v)
    return v


def pack(fields: list[tuple[str, int]], values: dict[str, np.ndarray], count: int) -> np.ndarray:
    """Pack per-beat field values ([count, n] each, n elements of width/n bits) into
    little-endian bytes [count, ceil(bits/8)].

    A field of 8/16/32/64-bit elements that starts on a byte is copied as bytes; any
    other goes through `to_bits` and is ORed in at its bit offset.
    """
    out = np.zeros((count, -(-sum(width for _, width in fields) // 8)), dtype=np.uint8)
    pos = 0
    for name, width in fields:
        v = np.asarray(values[name], dtype=np.int64).reshape(count, -1)
        element = width // v.shape[1]
        first = pos // 8
        if pos % 8 == 0 and element in (8, 16, 32, 64):
            out[:, first:first + width // 8] = (
                v.astype(f"<i{element // 8}").view(np.uint8).reshape(count, width // 8))
        else:
            bits = np.pad(to_bits(v, element), ((0, 0), (pos % 8, 0)))
            packed = np.packbits(bits, axis=1, bitorder="little")
            out[:, first:first + packed.shape[1]] |= packed
        pos += width
    return out


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
