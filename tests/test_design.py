"""`Design`: one validated value names, keys and builds every design of every flow."""

from __future__ import annotations

import dataclasses

import pytest

from nbsmt.core.policy import Policy
from nbsmt.hw.design import COUNTER_BITS, Design


@pytest.mark.parametrize("make, message", [
    (lambda: Design.pe(3), "threads"),
    (lambda: Design.pe(2, pipeline=3), "pipeline"),
    (lambda: Design.pe(2, isolate_operands=1), "isolate_operands"),
    (lambda: Design.pe(2, gate_clocks="yes"), "gate_clocks"),
    (lambda: Design.array(0, 2, 2), "rows"),
    (lambda: Design.array(2, 65, 2), "cols"),
    (lambda: Design.array(2, 2, 2, counter_bits=4), "counter_bits"),
    (lambda: Design("pe", 2, rows=2), "rows = cols = 1"),
    (lambda: Design("grid", 2), "kind"),
    (lambda: Design("pe", 2, policy="default"), "Policy"),
])
def test_a_bad_design_is_refused_when_made(make, message):
    with pytest.raises((TypeError, ValueError), match=message):
        make()


def test_names_and_labels():
    p = Policy(windows=5, rounding="trunc")
    assert Design.pe(2).name == "nbsmt_pe_t2" and Design.pe(2).label == "pe-2t"
    assert Design.pe(2, p, pipeline=1).name == "nbsmt_pe_t2_p1_w5_trunc"
    assert Design.pe(2, p, pipeline=1).label == "pe-2t-p1-w5_trunc"
    d = Design.array(8, 4, 4, pipeline=2, isolate_operands=True, gate_clocks=True)
    assert d.name == "nbsmt_array_8x4_t4_p2_iso_cg" and d.label == "8x4-4t-p2-iso-cg"
    assert d.counter_bits == COUNTER_BITS and Design.pe(1).counter_bits is None


OPTION_CHANGES = {"threads": 4, "policy": Policy(zero_skip="act"), "rows": 3, "cols": 5,
                  "pipeline": 2, "isolate_operands": True, "gate_clocks": True, "counter_bits": 32}


def test_every_field_changes_the_key_and_every_generator_option_the_name():
    # A field missing from `name` would give two designs one module, build folder and
    # cache name; one missing from `key` would serve one design's Verilog for another.
    base = Design.array(2, 2, 2)
    fields = {f.name for f in dataclasses.fields(Design)} - {"kind"}
    assert fields == set(OPTION_CHANGES), "a new Design field needs a case here"
    for field, value in OPTION_CHANGES.items():
        other = base.replace(**{field: value})
        assert other.key != base.key, field
        if field != "counter_bits":   # the counters' width is the simulation build folder's _c
            assert other.name != base.name and other.label != base.label, field
    assert Design.pe(2).key != base.as_pe().replace(threads=4).key


def test_relatives():
    d = Design.array(8, 8, 4, Policy(windows=5), pipeline=2, gate_clocks=True)
    assert d.baseline() == Design.array(8, 8, 1, gate_clocks=True)
    assert d.same_depth_baseline() == Design.array(8, 8, 1, pipeline=2, gate_clocks=True)
    assert d.as_pe() == Design.pe(4, Policy(windows=5), pipeline=2, gate_clocks=True)
    assert d.options() == {"pipeline": 2, "isolate_operands": False, "gate_clocks": True}
    assert len({d, d.replace(), Design.array(8, 8, 4, Policy(windows=5), **d.options())}) == 1


def test_elaborate_builds_the_generator_with_every_option():
    pe = Design.pe(4, pipeline=1, isolate_operands=True, gate_clocks=True).elaborate()
    assert (pe.threads, pe.pipeline, pe.isolate_operands, pe.gate_clocks) == (4, 1, True, True)
    pe._MustUse__silence = True
    array = Design.array(2, 3, 2, counter_bits=16).elaborate()
    assert (array.rows, array.cols) == (2, 3) and array.busy_cycles.shape().width == 16
    array._MustUse__silence = True
