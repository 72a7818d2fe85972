"""Every value of every policy knob reaches the lists that enumerate policies by hand:
the area report's policy rows and the proof matrix (docs/architecture.md)."""

from __future__ import annotations

import pytest

from nbsmt.core.policy import ROUNDING_CHOICES, WINDOW_CHOICES, ZERO_SKIP_CHOICES, Policy
from nbsmt.formal.proofs import POLICIES
from nbsmt.synth.configs import DEFAULT_POLICY, default_set, policy_variants

KNOBS = {"zero_skip": ZERO_SKIP_CHOICES, "windows": WINDOW_CHOICES, "rounding": ROUNDING_CHOICES}


def missing_values(policies) -> dict[str, set]:
    """{knob: values no policy of `policies` has}."""
    return {k: set(v) - {getattr(p, k) for p in policies} for k, v in KNOBS.items()
            if set(v) - {getattr(p, k) for p in policies}}


@pytest.mark.parametrize("where, policies", [
    ("synth/configs.py policy_variants", [DEFAULT_POLICY, *policy_variants()]),
    ("the default area report", [d.policy for d in default_set()]),
    ("formal/proofs.py POLICIES", list(POLICIES.values())),
])
def test_every_knob_value_is_listed(where, policies):
    assert missing_values(policies) == {}, where


def test_the_check_notices_a_missing_value():
    assert missing_values([Policy(), Policy(windows=5)]) == {"zero_skip": {"act"},
                                                             "windows": {3},
                                                             "rounding": {"trunc"}}
