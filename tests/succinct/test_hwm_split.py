"""The two-group decode of big Huffman-shaped trees (``_hwm_split``) against the input and the
one-pass decoder: whole and partial ranges, chunk boundaries, codes that end above the cut, and
the fused RAS decoder built on it."""

from __future__ import annotations

import numpy as np
import pytest

from sckit import ras
from sckit.succinct import _hwm_split as S
from sckit.succinct import huffman_wm
from sckit.succinct.huffman_wm import HuffmanWaveletMatrix


def big_tree(n: int, seed: int) -> np.ndarray:
    """Frequent short codes (ending above any cut) plus a wide tail: ~300 distinct symbols."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 300, n)
    x[rng.random(n) < 0.4] = 7  # one symbol with a 1-2 bit code
    x[rng.random(n) < 0.1] = 299
    return x


@pytest.fixture
def force_split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(S, "SPLIT_MIN_INTERNAL", 2)
    monkeypatch.setattr(S, "SPLIT_MAX_SCORE", 10.0)
    monkeypatch.setattr(huffman_wm, "_EAGER_SYMBOLS_PER_NODE", 0)  # eager: the split's contract


def test_split_tables_choose_a_cut_only_for_big_trees() -> None:
    small = HuffmanWaveletMatrix(np.arange(50).repeat(3))
    assert small._split[3] < 0  # 49 internal nodes: one pass
    hwm = HuffmanWaveletMatrix(big_tree(50_000, 0))
    child_top, leaf_top, cut_gid, mark = hwm._split
    assert mark == hwm.sigma and cut_gid.size >= 2
    # the cut tree reaches every cut node exactly once, and only as a pseudo-leaf
    k = hwm._leaf_sym.size
    pseudo = -child_top[child_top < 0] - 1
    assert np.array_equal(np.sort(pseudo[pseudo >= k]) - k, np.arange(cut_gid.size))
    assert np.array_equal(leaf_top[k:], mark + np.arange(cut_gid.size))


@pytest.mark.parametrize("dtype", [np.uint16, np.uint32, np.int64])
def test_split_decode_matches_input_everywhere(dtype) -> None:
    x = big_tree(3 * S.CHUNK + 77, 1)
    hwm = HuffmanWaveletMatrix(x)
    assert hwm._split[3] >= 0
    n = x.size
    for a, b in [(0, n), (0, S.CHUNK), (1, S.CHUNK + 1), (S.CHUNK - 5, 2 * S.CHUNK + 9),
                 (n - 300, n), (12_345, 12_346)]:
        out = np.full(b - a + 3, 9999, dtype=dtype)
        hwm.decode_into(a, b, out)
        assert np.array_equal(out[: b - a], x[a:b]), (a, b)
        assert np.all(out[b - a :] == 9999)  # nothing written past the range


def test_split_equals_one_pass_on_many_trees(force_split) -> None:
    rng = np.random.default_rng(3)
    for sigma in (2, 5, 40, 256, 3000):
        x = np.minimum(rng.geometric(1.5 / sigma, 20_000) - 1, sigma - 1)
        hwm = HuffmanWaveletMatrix(x)
        split = hwm.decode()
        hwm._split = S.no_split()
        assert np.array_equal(split, x) and np.array_equal(hwm.decode(), x), sigma


def test_uint8_output_and_width_one(force_split) -> None:
    x = np.random.default_rng(4).integers(0, 256, 20_000)
    hwm = HuffmanWaveletMatrix(x)
    assert hwm._split[3] >= 0
    out = np.empty(x.size, np.uint8)
    assert np.array_equal(hwm.decode_into(0, x.size, out), x)


@pytest.mark.parametrize("codebook", [False, True])
def test_fused_ras_decode_through_the_split(codebook: bool, request: pytest.FixtureRequest) -> None:
    # 8-bit quantized float32 weights: ~250 distinct values; as codebook indices the tree is big
    # enough for the split; as sign+exponent symbols it is small, so force it there
    if not codebook:
        request.getfixturevalue("force_split")
    rng = np.random.default_rng(5)
    levels = np.linspace(-0.06, 0.06, 256).astype(np.float32)
    w = levels[np.clip(np.rint(rng.normal(128, 40, (300, 181))), 0, 255).astype(np.int64)]
    r = ras.encode(w.view(np.uint32), dtype="float32", kind="block", sparse=False,
                   codebook=codebook)
    assert r.wm._split[3] >= 0 and (r.codebook is not None) == codebook
    assert np.array_equal(r.decode().view(np.float32), w)
    assert np.array_equal(r.decode_rows(17, 230).view(np.float32), w[17:230])
