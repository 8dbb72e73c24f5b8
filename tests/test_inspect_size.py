"""Estimated RAS sizes (no structures built) against the real encoded sizes."""

from __future__ import annotations

import math

import pytest
import torch

import sckit
from sckit.inspect_size import estimate_size, exact_size
from tests.fixtures import TinyMLP


def _weights(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g) * 0.02


def _pruned(t, keep):
    return t * (t.abs() >= t.abs().flatten().kthvalue(int(t.numel() * (1 - keep))).values)


def _quantized(t, levels=16):
    step = t.abs().max() / (levels // 2 - 1)
    return (t / step).round() * step


CASES = {
    "float32": (_weights((256, 128, 3, 3)), 0.01),
    "float16": (_weights((512, 512)).half(), 0.01),
    "bfloat16": (_weights((512, 512)).bfloat16(), 0.01),
    "pruned-50": (_pruned(_weights((256, 1152)), 0.5), 0.03),
    "pruned-90": (_pruned(_weights((256, 1152)), 0.1), 0.1),  # ~29K distinct: a codebook
    "4-bit": (_quantized(_weights((256, 1152))), 0.03),
}


@pytest.mark.parametrize("kind", ["block", "element"])
@pytest.mark.parametrize("case", list(CASES))
def test_estimate_close_to_exact(case, kind):
    t, tol = CASES[case]
    est, real = estimate_size(t, kind), exact_size(t, kind)
    assert not est.exact and real.exact
    assert est.nbytes == pytest.approx(real.nbytes, rel=tol)
    assert est.h0_bits == pytest.approx(real.h0_bits, rel=max(tol, 0.05))


def test_inspect_size_modes():
    model, x = TinyMLP(), torch.randn(1, 8)
    exact = sckit.inspect(model, x, encode="exact")
    default = sckit.inspect(model, x)
    # small tensors are encoded even when estimating: the two agree exactly
    assert exact.attrs["sizes"] == "exact" == default.attrs["sizes"]
    assert (exact.succinct_bytes == default.succinct_bytes).all()
    assert not default.size_estimated.any()
    none = sckit.inspect(model, x, encode=False)
    assert none.attrs["sizes"] == "none" and none.succinct_bytes.isna().all()
    assert math.isnan(none.attrs["totals"]["succinct_bytes"])
    with pytest.raises(TypeError, match="encode="):
        sckit.inspect(model, x, encode="fast")


def test_large_rows_are_estimated_and_flagged():
    torch.manual_seed(0)
    model = torch.nn.Linear(256, 256)
    df = sckit.inspect(model, torch.randn(1, 256))
    assert df.size_estimated.iloc[0]
    real = sckit.inspect(model, torch.randn(1, 256), encode="exact")
    assert df.succinct_bytes.iloc[0] == pytest.approx(real.succinct_bytes.iloc[0], rel=0.01)
