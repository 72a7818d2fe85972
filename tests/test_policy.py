"""Policy validation: every bad knob fails at construction with a message naming it."""

import dataclasses

import pytest

from nbsmt.core.policy import Policy, check_mode, check_threads


def test_defaults_and_authors_policy():
    p = Policy()
    assert (p.zero_skip, p.windows, p.rounding, p.acc_bits) == ("both", 2, "rne", 32)
    assert p.window_offsets == (0, 4) and p.act_reduced_bits == 4
    assert Policy(windows=3).window_offsets == (0, 2, 4)
    assert Policy(windows=5).window_offsets == (0, 1, 2, 3, 4)
    a = Policy.authors()
    assert (a.zero_skip, a.windows) == ("act", 2)


def test_policy_is_immutable_and_hashable():
    p = Policy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.windows = 3
    assert len({Policy(), Policy(), Policy(windows=5)}) == 2


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"zero_skip": "none"}, ValueError, "zero_skip must be one of 'both', 'act', not 'none'"),
    ({"windows": 4}, ValueError, "windows must be one of 2, 3, 5, not 4"),
    ({"windows": True}, ValueError, "windows must be one of 2, 3, 5, not True"),
    ({"rounding": "up"}, ValueError, "rounding must be one of 'rne', 'trunc', not 'up'"),
    ({"acc_bits": 8}, ValueError, "acc_bits must be between 16 and 62, not 8"),
    ({"acc_bits": 32.0}, TypeError, "acc_bits must be an integer, not 32.0"),
    ({"act_bits": 7}, ValueError, "act_bits must be even"),
    ({"act_bits": 6, "windows": 3}, ValueError, "windows=3 needs"),
])
def test_bad_policy_is_rejected_with_a_message(kwargs, exc, message):
    with pytest.raises(exc, match=message.replace("(", r"\(")):
        Policy(**kwargs)


def test_threads_and_mode_validation():
    assert check_threads(4) == 4 and check_mode(2, 4) == 2
    with pytest.raises(ValueError, match="threads must be one of 1, 2, 4, not 3"):
        check_threads(3)
    with pytest.raises(ValueError, match=r"mode must not exceed threads \(2\), not 4"):
        check_mode(4, 2)


def test_threads_must_be_an_integer():
    with pytest.raises(TypeError, match="threads must be an integer, not '2'"):
        check_threads("2")
    with pytest.raises(TypeError, match="threads must be an integer, not True"):
        check_threads(True)
