"""Verilog generation: reproducible text, and the cache that spares re-elaborating arrays."""

import shutil
from pathlib import Path

from nbsmt.core.cache import Cache
from nbsmt.hw.configs import pe_design
from nbsmt.hw.generate import cached_verilog, generator_fingerprint, source_fingerprint, to_verilog
from nbsmt.core.policy import Policy


def test_cached_verilog_builds_once_per_key(tmp_path):
    cache, calls = Cache(tmp_path), []

    def build(threads):
        calls.append(threads)
        return pe_design(threads, Policy())

    text1, seconds1 = cached_verilog({"pe": 1}, lambda: build(1), cache)
    text1_again, seconds_again = cached_verilog({"pe": 1}, lambda: build(1), cache)
    text2, _ = cached_verilog({"pe": 2}, lambda: build(2), cache)
    assert calls == [1, 2]
    assert text1 == text1_again == to_verilog(*pe_design(1, Policy()))
    assert seconds1 > 0 and seconds_again == 0.0
    assert "module nbsmt_pe_t2(" in text2 and text2 != text1


def test_uncached_builds_every_time():
    calls = []
    for _ in range(2):
        cached_verilog({"pe": 1}, lambda: calls.append(1) or pe_design(1), Cache(None))
    assert len(calls) == 2   # Cache(None) stores nothing


def test_editing_a_generator_source_changes_the_fingerprint(tmp_path):
    repo = Path(__file__).resolve().parent.parent
    for rel in ("hw", "core", "nbsmt"):
        shutil.copytree(repo / rel, tmp_path / rel, ignore=shutil.ignore_patterns("__pycache__"))
    before = source_fingerprint(tmp_path)
    assert before == source_fingerprint(repo) == generator_fingerprint()
    for rel in ("hw/pe.py", "core/policy.py"):
        path = tmp_path / rel
        original = path.read_text()
        path.write_text(original + "\n# an edit\n")
        assert source_fingerprint(tmp_path) != before, rel
        path.write_text(original)
    assert source_fingerprint(tmp_path) == before
    (tmp_path / "nbsmt" / "cli.py").write_text("# not a generator source\n")
    assert source_fingerprint(tmp_path) == before
