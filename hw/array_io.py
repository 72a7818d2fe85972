"""Bit layout of the SySMT array's stream payloads, shared by the generator and the host.

Pure Python (no Amaranth), so the numpy host driver packs and unpacks exactly the fields
`hw/array.py` builds its `StructLayout`s from. Fields are listed LSB first.

Input beat (one K-step of one tile):
    a     R*T*A bits  row i, lane t at bits [(i*T + t)*A, +A), unsigned
    w     C*T*W bits  column j, lane t at bits [(j*T + t)*W, +W), two's complement
    last  1 bit       this is the tile's last K-step
    rows  bits(R)     real rows of this tile (1..R); the rest are padding
    cols  bits(C)     real columns of this tile (1..C)
Output beat (one row of a finished tile, rows in order 0..R-1):
    data  C*ACC bits  column j at bits [j*ACC, +ACC), two's complement
    last  1 bit       this is row R-1, the tile's last beat
"""

from __future__ import annotations

import dataclasses

from nbsmt.core.policy import Policy


@dataclasses.dataclass(frozen=True)
class ArrayFormat:
    rows: int
    cols: int
    threads: int
    policy: Policy

    @property
    def count_bits(self) -> tuple[int, int]:
        """Widths of the `rows` and `cols` fields (they hold 0..R and 0..C)."""
        return self.rows.bit_length(), self.cols.bit_length()

    def input_fields(self) -> list[tuple[str, int]]:
        p, T = self.policy, self.threads
        rb, cb = self.count_bits
        return [("a", self.rows * T * p.act_bits), ("w", self.cols * T * p.weight_bits),
                ("last", 1), ("rows", rb), ("cols", cb)]

    def output_fields(self) -> list[tuple[str, int]]:
        return [("data", self.cols * self.policy.acc_bits), ("last", 1)]

    @staticmethod
    def offsets(fields) -> dict[str, tuple[int, int]]:
        """{name: (lsb, width)} of a field list."""
        out, pos = {}, 0
        for name, width in fields:
            out[name] = (pos, width)
            pos += width
        return out

    @property
    def input_bits(self) -> int:
        return sum(w for _, w in self.input_fields())

    @property
    def output_bits(self) -> int:
        return sum(w for _, w in self.output_fields())
