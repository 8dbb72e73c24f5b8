from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sckit.baselines.result import magnitude_prune, positions_from_gaps, relative_indices


def test_filler_zero_known_answer():
    # Deep Compression Fig. 2 style: 2-bit gaps (span 4); kept weights at 0, 1, 2, 10, 15
    keep = np.zeros(16, dtype=bool)
    keep[[0, 1, 2, 10, 15]] = True
    gaps, pos = relative_indices(keep, 2)
    assert pos.tolist() == [0, 1, 2, 6, 10, 14, 15]  # fillers at 6 and 14
    assert gaps.tolist() == [0, 0, 0, 3, 3, 3, 0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), max_size=300), st.integers(1, 6))
def test_relative_indices_invert_and_are_minimal(bits, index_bits):
    keep = np.array(bits, dtype=bool)
    gaps, pos = relative_indices(keep, index_bits)
    assert np.all((gaps >= 0) & (gaps < 2**index_bits))
    assert np.array_equal(positions_from_gaps(gaps), pos)
    assert set(np.flatnonzero(keep)) <= set(pos.tolist())
    steps = np.diff(np.flatnonzero(keep), prepend=-1)
    assert pos.size == keep.sum() + int(((steps - 1) // 2**index_bits).sum())


def test_magnitude_prune_amount_and_ties():
    w = np.array([[0.1, -0.5, 0.2], [0.0, 0.3, -0.05]], dtype=np.float32)
    keep = magnitude_prune(w, 0.5)
    assert keep.tolist() == [[False, True, True], [False, True, False]]
    assert magnitude_prune(w, 0.0).sum() == 5  # existing zeros stay pruned
