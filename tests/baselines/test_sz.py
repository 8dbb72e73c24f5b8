from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sckit.baselines.sz import (
    sz3_available,
    sz3_compress,
    sz3_decompress,
    sz_compress,
    sz_decompress,
)
from sckit.errors import FormatError


def _check_bound(x: np.ndarray, y: np.ndarray, eb: float) -> None:
    finite = np.isfinite(x)
    assert np.all(np.abs(y[finite].astype(np.float64) - x[finite].astype(np.float64)) <= eb)
    # non-finite values are stored verbatim: bit-exact
    assert np.array_equal(x[~finite].view(np.uint32), y[~finite].view(np.uint32))


@pytest.mark.parametrize("predictor", ["zero", "lorenzo", "auto"])
@pytest.mark.parametrize("eb", [1e-5, 1e-3, 5e-2])
def test_error_bound_gaussian_weights(predictor, eb):
    x = (np.random.default_rng(0).standard_normal(5000) * 0.02).astype(np.float32)
    blob = sz_compress(x, eb, predictor=predictor)
    y = sz_decompress(blob)
    assert y.dtype == np.float32 and y.shape == x.shape
    _check_bound(x, y, eb)
    assert len(blob) < x.nbytes  # it does compress


def test_larger_bound_gives_smaller_blob():
    x = (np.random.default_rng(1).standard_normal(5000) * 0.05).astype(np.float32)
    sizes = [len(sz_compress(x, eb)) for eb in (1e-4, 1e-3, 1e-2)]
    assert sizes[0] > sizes[1] > sizes[2]


@settings(max_examples=50, deadline=None)
@given(
    hnp.arrays(
        np.float32,
        st.integers(0, 200),
        elements=st.floats(width=32, allow_nan=True, allow_infinity=True),
    ),
    st.sampled_from([1e-6, 1e-3, 0.5]),
)
def test_error_bound_property(x, eb):
    y = sz_decompress(sz_compress(x, eb, radius=1 << 10))
    _check_bound(x, y, eb)


def test_smooth_data_prefers_lorenzo():
    x = np.cumsum(np.full(4000, 1e-3, dtype=np.float32)).astype(np.float32)
    assert len(sz_compress(x, 1e-4, predictor="lorenzo")) < len(
        sz_compress(x, 1e-4, predictor="zero")
    )
    assert len(sz_compress(x, 1e-4)) == len(sz_compress(x, 1e-4, predictor="lorenzo"))


def test_bad_arguments():
    x = np.zeros(4, dtype=np.float32)
    for eb in (0, -1e-3, float("nan"), float("inf"), True):
        with pytest.raises(ValueError):
            sz_compress(x, eb)
    with pytest.raises(TypeError):
        sz_compress(x.astype(np.float64), 1e-3)
    with pytest.raises(ValueError):
        sz_compress(x.reshape(2, 2), 1e-3)
    with pytest.raises(ValueError):
        sz_compress(x, 1e-3, predictor="cubic")
    with pytest.raises(FormatError):
        sz_decompress(b"nope")
    blob = sz_compress(np.ones(100, dtype=np.float32), 1e-3)
    with pytest.raises(FormatError):
        sz_decompress(blob[:-3])


@pytest.mark.skipif(not sz3_available(), reason="optional SZ3 binding (pysz) not installed")
def test_sz3_backend_error_bound():
    x = (np.random.default_rng(0).standard_normal(5000) * 0.02).astype(np.float32)
    y = sz3_decompress(sz3_compress(x, 1e-3))
    _check_bound(x, y, 1e-3 * (1 + 1e-6))
