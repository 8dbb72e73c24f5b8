"""Teaching traces agree with the structure's own queries."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sckit.succinct.trace import trace_access, trace_rank, trace_select
from sckit.succinct.wavelet_matrix import WaveletMatrix


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 12), min_size=1, max_size=40), st.data())
def test_traces_match_queries(symbols, data):
    wm = WaveletMatrix(np.array(symbols, dtype=np.uint32))
    i = data.draw(st.integers(0, len(symbols) - 1))
    t = trace_access(wm, i)
    assert t.result == symbols[i] and len(t.steps) == wm.n_levels
    c = symbols[data.draw(st.integers(0, len(symbols) - 1))]
    j = data.draw(st.integers(0, len(symbols)))
    assert trace_rank(wm, c, j).result == symbols[:j].count(c)
    k = data.draw(st.integers(0, symbols.count(c) - 1))
    assert trace_select(wm, c, k).result == [p for p, s in enumerate(symbols) if s == c][k]


def test_trace_reports_read_positions():
    wm = WaveletMatrix([4, 7, 6, 5, 3, 2, 1, 0, 1, 4, 1, 7])
    t = trace_access(wm, 2)
    assert t.steps[0].positions == (2,) and t.result == 6
    assert [s.bit for s in t.steps] == [1, 1, 0]


def test_trace_bad_arguments():
    wm = WaveletMatrix([1, 2, 3])
    with pytest.raises(IndexError):
        trace_access(wm, 3)
    with pytest.raises(ValueError):
        trace_rank(wm, 9, 1)
    with pytest.raises(IndexError):
        trace_select(wm, 1, 1)
