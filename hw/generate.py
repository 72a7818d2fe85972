"""Turning Amaranth components into Verilog text the same way everywhere."""

from __future__ import annotations

from amaranth.back import verilog


def to_verilog(component, name: str) -> str:
    """Verilog for `component` with top module `name`, free of the generating machine's paths.

    `emit_src=False` drops Amaranth's source-location attributes, which carry absolute
    paths; the text then depends only on the design, so its hash can key build caches.
    """
    return verilog.convert(component, name=name, emit_src=False)
