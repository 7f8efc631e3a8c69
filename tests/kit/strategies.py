"""Hypothesis strategies that several property tests draw from."""

from __future__ import annotations

from hypothesis import strategies as st

seeds = st.integers(0, 2**32 - 1)  # all of numpy's default_rng and torch's manual_seed take
