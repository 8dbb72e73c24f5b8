from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sckit.baselines.huffman_coding import (
    MAX_CODE_BITS,
    HuffmanStream,
    huffman_code_lengths,
    huffman_decode,
    huffman_encode,
)
from sckit.errors import FormatError


def test_known_code_lengths():
    # counts 1,1,2,4: the textbook tree gives lengths 3,3,2,1
    assert huffman_code_lengths(np.array([1, 1, 2, 4])).tolist() == [3, 3, 2, 1]
    assert huffman_code_lengths(np.array([0, 5, 0])).tolist() == [0, 1, 0]


def test_kraft_equality_and_entropy_bound():
    rng = np.random.default_rng(0)
    counts = rng.integers(1, 1000, size=40)
    lengths = huffman_code_lengths(counts).astype(np.float64)
    assert np.sum(2.0**-lengths) == pytest.approx(1.0)  # complete prefix code
    p = counts / counts.sum()
    entropy = -(p * np.log2(p)).sum()
    avg = (p * lengths).sum()
    assert entropy <= avg < entropy + 1


def test_length_limit_on_fibonacci_counts():
    fib = [1, 1]
    while len(fib) < 45:
        fib.append(fib[-1] + fib[-2])
    lengths = huffman_code_lengths(np.array(fib))
    assert lengths.max() <= MAX_CODE_BITS
    assert np.sum(2.0 ** -lengths.astype(np.float64)) <= 1.0 + 1e-12


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 300), max_size=400))
def test_round_trip(symbols):
    x = np.array(symbols, dtype=np.int64)
    s = huffman_encode(x)
    blob = s.to_bytes()
    assert len(blob) == s.nbytes
    back = HuffmanStream.from_bytes(blob)
    assert back.payload_bits == s.payload_bits
    assert np.array_equal(huffman_decode(back), x)


def test_skewed_stream_is_compact():
    rng = np.random.default_rng(1)
    x = rng.geometric(0.5, size=20000) - 1
    s = huffman_encode(x)
    assert s.bits_per_symbol < 2.1  # entropy of Geometric(1/2) is 2 bits
    assert np.array_equal(huffman_decode(s), x)


def test_bad_input():
    with pytest.raises(ValueError):
        huffman_encode(np.array([1, -1]))
    with pytest.raises(TypeError):
        huffman_encode(np.array([1.5]))
    with pytest.raises(ValueError):
        huffman_encode(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(ValueError):
        huffman_encode(np.array([5]), alphabet_size=4)


def test_corrupt_bytes():
    s = huffman_encode(np.arange(100) % 7)
    blob = s.to_bytes()
    with pytest.raises(FormatError):
        HuffmanStream.from_bytes(blob[:5])
    truncated = HuffmanStream.from_bytes(blob[:-10])
    with pytest.raises(FormatError):
        huffman_decode(truncated)
