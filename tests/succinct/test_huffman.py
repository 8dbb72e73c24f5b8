"""Huffman code lengths (optimal, length-limited) and the wavelet-matrix canonical code."""

from __future__ import annotations

import heapq
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sckit.succinct.huffman import huffman_code_lengths, wm_canonical_code


def heap_huffman_cost(freqs: list[int]) -> int:
    """Textbook Huffman (a heap of subtree weights): the optimal cost sum(f * len)."""
    if len(freqs) <= 1:
        return 0
    h = list(freqs)
    heapq.heapify(h)
    cost = 0
    while len(h) > 1:
        a, b = heapq.heappop(h), heapq.heappop(h)
        cost += a + b  # every merge adds one bit to each symbol below it
        heapq.heappush(h, a + b)
    return cost


def brute_limited_cost(freqs: list[int], limit: int) -> int:
    """Cheapest complete prefix code with lengths <= limit, by enumerating length multisets."""
    f = sorted(freqs, reverse=True)
    best = None
    for lens in itertools.combinations_with_replacement(range(1, limit + 1), len(f)):
        if sum(2.0**-x for x in lens) == 1.0:  # exact in binary floating point
            c = sum(
                a * b for a, b in zip(f, lens, strict=True)
            )  # lens ascending pairs with f descending
            best = c if best is None else min(best, c)
    assert best is not None
    return best


def kraft(lengths: np.ndarray) -> float:
    return float(sum(2.0 ** -int(x) for x in lengths))


def test_clrs_known_answer() -> None:
    # Cormen et al., Introduction to Algorithms (3rd ed.), fig. 16.3: a..f
    lens = huffman_code_lengths(np.array([45, 13, 12, 16, 9, 5]))
    assert lens.tolist() == [1, 3, 3, 3, 4, 4]
    assert int(np.dot(lens, [45, 13, 12, 16, 9, 5])) == 224  # the book's 224 bits (x1000)


def test_fibonacci_frequencies_force_long_codes_and_limit_works() -> None:
    fib = [1, 1]
    while len(fib) < 12:
        fib.append(fib[-1] + fib[-2])
    free = huffman_code_lengths(np.array(fib), max_length=None)
    assert int(free.max()) == 11  # a path: lengths 11, 11, 10, ..., 1
    assert sorted(free.tolist()) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 11]
    for limit in (4, 5, 6):
        lim = huffman_code_lengths(np.array(fib), max_length=limit)
        assert int(lim.max()) <= limit
        assert kraft(lim) == 1.0
        assert int(np.dot(lim, fib)) == brute_limited_cost(fib, limit)
    # limit 4 = ceil(log2 12): the optimum (brute force agrees, loop above) gives the two most
    # frequent symbols 2 and 3 bits and the other ten 4 bits (10/16 + 1/8 + 1/4 = 1)
    lim4 = huffman_code_lengths(np.array(fib), max_length=4)
    assert lim4.tolist() == [4] * 10 + [3, 2]
    assert int(np.dot(lim4, fib)) == 1127


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 10**6), min_size=1, max_size=60))
def test_optimal_and_complete(freqs: list[int]) -> None:
    lens = huffman_code_lengths(np.array(freqs), max_length=None)
    assert int(np.dot(lens.astype(np.int64), freqs)) == heap_huffman_cost(freqs)
    if len(freqs) > 1:
        assert kraft(lens) == 1.0
    else:
        assert lens.tolist() == [0]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 1000), min_size=2, max_size=7), st.integers(3, 5))
def test_package_merge_matches_brute_force(freqs: list[int], limit: int) -> None:
    lens = huffman_code_lengths(np.array(freqs), max_length=limit)
    assert int(lens.max()) <= limit and kraft(lens) == 1.0
    assert int(np.dot(lens.astype(np.int64), freqs)) == brute_limited_cost(freqs, limit)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 2**40), min_size=2, max_size=400), st.integers(9, 20))
def test_package_merge_kernel_gives_the_numpy_lengths(freqs: list[int], limit: int) -> None:
    """The numba package-merge (the byte-grouped loader's) and the numpy one (the encoder's)
    must agree exactly: a file's code lengths are re-derived on load, not stored."""
    f = np.array(freqs, dtype=np.int64)
    limit = max(limit, (f.size - 1).bit_length())
    sorted_f = np.sort(f)
    from sckit.succinct._hwm_kernels import package_merge_lengths
    from sckit.succinct.huffman import _package_merge_lengths

    assert np.array_equal(package_merge_lengths(sorted_f, limit), _package_merge_lengths(sorted_f, limit))


def _rev_prefix(code: int, level: int) -> int:
    """Matrix order key of a code's first level + 1 bits: bit ``level`` most significant."""
    return int("".join(str((code >> b) & 1) for b in range(level, -1, -1)), 2)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 10**4), min_size=1, max_size=80), st.sampled_from([None, 7, 10]))
def test_wm_canonical_code_properties(freqs: list[int], limit: int | None) -> None:
    if limit is not None and (len(freqs) - 1).bit_length() > limit:
        return
    syms = np.arange(len(freqs), dtype=np.uint64) * 3 + 1
    lens = huffman_code_lengths(np.array(freqs), max_length=limit)
    code = wm_canonical_code(syms, lens)
    assert np.array_equal(code.lengths, lens)
    words = [(int(c), int(x)) for c, x in zip(code.codes, lens, strict=True)]
    # prefix-free: no code is a prefix (low bits) of another
    for (c1, l1), (c2, l2) in itertools.permutations(words, 2):
        if l1 <= l2:
            assert (c2 & ((1 << l1) - 1)) != c1 or (l1 == l2 and c1 != c2)
    # matrix order: at every level, codes ending there sort after every prefix that goes on
    depth = int(lens.max()) if lens.size else 0
    for lev in range(depth):
        ending = [_rev_prefix(c, lev) for c, x in words if x == lev + 1]
        going = [_rev_prefix(c, lev) for c, x in words if x > lev + 1]
        if ending and going:
            assert min(ending) > max(going)
    # canonical: within one length, slots are filled in ascending symbol order
    for x in set(lens.tolist()):
        sel = np.flatnonzero(lens == x)
        keys = [_rev_prefix(int(code.codes[i]), x - 1) for i in sel] if x else [0]
        assert keys == sorted(keys)


def test_wm_canonical_code_small_known_answer() -> None:
    # symbols 5 (len 1), 9 and 700 (len 2): level 1 has slots "0?" internal, "1" leaf -> 5 = 1;
    # level 2 slots 00, 01 are leaves 9, 700 (bit 0 first, LSB-first integers).
    code = wm_canonical_code(np.array([5, 9, 700]), np.array([1, 2, 2]))
    assert code.codes.tolist() == [0b1, 0b00, 0b10]
    assert code.internal_counts.tolist() == [1, 1, 0]
    assert code.leaf_symbols.tolist() == [5, 9, 700]


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="positive"):
        huffman_code_lengths(np.array([3, 0, 1]))
    with pytest.raises(ValueError, match="integers"):
        huffman_code_lengths(np.array([1.5, 2.0]))
    with pytest.raises(ValueError, match="one-dimensional"):
        huffman_code_lengths(np.ones((2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="longer than max_length"):
        huffman_code_lengths(np.ones(9, dtype=np.int64), max_length=3)
    with pytest.raises(ValueError, match="max_length"):
        huffman_code_lengths(np.ones(3, dtype=np.int64), max_length=0)
    with pytest.raises(ValueError, match="Kraft"):
        wm_canonical_code(np.array([1, 2, 3]), np.array([1, 1, 2]))
    with pytest.raises(ValueError, match="complete"):
        wm_canonical_code(np.array([1, 2, 3]), np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="ascending"):
        wm_canonical_code(np.array([2, 1]), np.array([1, 1]))
    assert huffman_code_lengths(np.zeros(0, dtype=np.int64)).size == 0
