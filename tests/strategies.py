"""Hypothesis strategies and profiles, in one place."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Amounts up to the per-line bound, with the edges drawn often.
amounts_minor = st.one_of(
    st.integers(-(10**15), 10**15),
    st.sampled_from([0, 1, -1, 5, -5, 10**15, -(10**15), 10**15 - 1]),
)
# Rates as integers of 10^-12 USD, in (0, 1000).
rates_e12 = st.one_of(
    st.integers(1, 10**15 - 1),
    st.sampled_from([10**12, 125 * 10**9, 5 * 10**9, 1, 10**15 - 1, 137_500_000_000]),
)
exponents = st.sampled_from([0, 2, 3])
