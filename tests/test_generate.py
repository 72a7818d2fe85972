"""Verilog generation: reproducible text, and the cache that spares re-elaborating arrays."""

from nbsmt.cache import Cache
from nbsmt.hw.configs import pe_design
from nbsmt.hw.generate import cached_verilog, generator_fingerprint, to_verilog
from nbsmt.sim.policy import Policy


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
    assert "module nbsmt_pe_t2_w2_rne_both(" in text2 and text2 != text1


def test_uncached_and_fingerprint_is_stable(tmp_path):
    calls = []
    for _ in range(2):
        cached_verilog({"pe": 1}, lambda: calls.append(1) or pe_design(1), Cache(None))
    assert len(calls) == 2   # Cache(None) stores nothing
    assert generator_fingerprint() == generator_fingerprint() and len(generator_fingerprint()) == 64
