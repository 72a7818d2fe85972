"""Verilog generation: reproducible text, and the cache that spares re-elaborating arrays."""

import importlib.resources
import shutil

from nbsmt.core.cache import Cache
from nbsmt.hw.design import Design
from nbsmt.hw.generate import cached_verilog, generator_fingerprint, source_fingerprint, to_verilog
from nbsmt.core.policy import Policy


def _pe(threads):
    design = Design.pe(threads, Policy())
    return design.elaborate(), design.name


def test_cached_verilog_builds_once_per_key(tmp_path):
    cache, calls = Cache(tmp_path), []

    def build(threads):
        calls.append(threads)
        return _pe(threads)

    text1, seconds1 = cached_verilog({"pe": 1}, lambda: build(1), cache)
    text1_again, seconds_again = cached_verilog({"pe": 1}, lambda: build(1), cache)
    text2, _ = cached_verilog({"pe": 2}, lambda: build(2), cache)
    assert calls == [1, 2]
    assert text1 == text1_again == to_verilog(*_pe(1))
    assert seconds1 > 0 and seconds_again == 0.0
    assert "module nbsmt_pe_t2(" in text2 and text2 != text1


def test_uncached_builds_every_time():
    calls = []
    for _ in range(2):
        cached_verilog({"pe": 1}, lambda: calls.append(1) or _pe(1), Cache(None))
    assert len(calls) == 2   # Cache(None) stores nothing


def test_editing_a_generator_source_changes_the_fingerprint(tmp_path):
    """The fingerprint hashes the installed packages' files (importlib.resources), named by
    package, so a copy of them elsewhere gives the same key, and edits show in it."""
    for package in ("nbsmt.hw", "nbsmt.core", "nbsmt"):
        with importlib.resources.as_file(importlib.resources.files(package)) as folder:
            shutil.copytree(folder, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))

    def fingerprint():
        return source_fingerprint(locate=lambda package: tmp_path / package)

    before = fingerprint()
    assert before == source_fingerprint() == generator_fingerprint()
    for rel in ("nbsmt.hw/pe.py", "nbsmt.hw/array.py", "nbsmt.core/policy.py"):
        path = tmp_path / rel
        original = path.read_text()
        path.write_text(original + "\n# an edit\n")
        assert fingerprint() != before, rel
        path.write_text(original)
    assert fingerprint() == before
    (tmp_path / "nbsmt.hw" / "new_block.py").write_text("# a new RTL module\n")
    assert fingerprint() != before
    (tmp_path / "nbsmt.hw" / "new_block.py").unlink()
    # not generator sources: another module of nbsmt.core, the CLI
    (tmp_path / "nbsmt.core" / "cache.py").write_text("# not a generator source\n")
    (tmp_path / "nbsmt" / "cli.py").write_text("# not a generator source\n")
    assert fingerprint() == before


def test_a_design_is_generated_once_for_every_flow(tmp_path):
    """Simulation, synthesis and energy ask `Design.verilog`; one cache entry serves all."""
    cache = Cache(tmp_path)
    design = Design.array(2, 3, 2, pipeline=1, gate_clocks=True)
    text, seconds = design.generate(cache)
    again, seconds_again = Design.array(2, 3, 2, pipeline=1, gate_clocks=True).generate(cache)
    assert text == again and seconds > 0 and seconds_again == 0.0
    assert f"module {design.name}(" in text
    # another option is another design: another entry, another module name
    other = design.replace(gate_clocks=False)
    assert other.name != design.name and other.verilog(cache) != text
