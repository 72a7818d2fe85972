"""The PE bench's precomputed expectations agree with a plain cycle-by-cycle model."""

import numpy as np
import pytest

from nbsmt.sim.arith import contribution, wrap
from nbsmt.core.policy import Policy
from nbsmt.host.beats import pack_lanes
from nbsmt.host.pe_vectors import expected_accumulator, pe_vectors
from nbsmt.host.stimulus import FAMILIES


def _loop_accumulator(value, en, last, bits):
    acc, out = 0, []
    for v, e, l in zip(value.tolist(), en.tolist(), last.tolist()):
        out.append(acc)
        if e:
            acc = 0 if l else int(wrap(acc + v, bits))
    return out


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_expectations_match_a_cycle_loop(threads):
    policy = Policy(acc_bits=18)   # small, so the running sums wrap
    vec = pe_vectors(threads, policy, 4000, seed=threads)
    c = contribution(vec.a, vec.w, policy)
    want = _loop_accumulator(c.value, vec.en, vec.last, policy.acc_bits)
    assert vec.acc == want
    assert vec.result == wrap(np.array(want) + c.value, policy.acc_bits).tolist()
    assert set(vec.kind) == set(FAMILIES)
    assert any(v < 0 for v in vec.acc) and max(vec.n_active) == threads
    if threads > 1:
        assert max(vec.lossy) == threads   # all-collision streams do lose bits


def test_expected_accumulator_wraps_and_clears():
    value = np.array([100, 100, 5, 7, 9])
    en = np.array([1, 1, 0, 1, 1])
    last = np.array([0, 1, 1, 0, 0])
    assert expected_accumulator(value, en, last, 8).tolist() == [0, 100, 0, 0, 7]


def test_pack_places_lanes_and_masks_negatives():
    assert pack_lanes([[1, -1]], 8) == [0xFF01]
    assert pack_lanes([[0xFFFF] * 4, [-1, 0, 0, 1]], 16) == [2**64 - 1, (1 << 48) | 0xFFFF]
