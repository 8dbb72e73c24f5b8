"""``encode``: numpy weights -> :class:`~sckit.ras.core.RAS` (choice of form, then numba passes).

Choices, all by estimated (or, for small tensors, real) size: raw float sign or not
(:mod:`sckit.ras.fields`), codebook or field split (:mod:`sckit.ras.codebook`), sparse or dense
(:mod:`sckit.ras.sparse`) and the relative-distance cap. Then one numba pass writes the symbol
stream with its delimiters (:mod:`sckit.ras.grammar`) and packs the raw bits, and the wavelet
matrices are built.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sckit.ras import grammar
from sckit.ras import sparse as sp
from sckit.ras.codebook import MAX_CODEBOOK, distinct_codes
from sckit.ras.core import (
    RAS,
    _counts,
    _stream_dtype,
    _wm_class,
)
from sckit.ras.fields import FieldSplit, as_bit_view, n_raw_words
from sckit.ras.grammar import Layout, make_layout

__all__ = ["encode"]

# sparse=None only tries the sparse form when at least this fraction of weights is zero: below
# it the distance stream costs more than the skipped zeros save (measured on N(0, 0.02) layers).
SPARSE_MIN_ZERO_FRACTION = 0.02
# up to this many weights, sparse/codebook choices are made by building every candidate and
# comparing exact sizes (fixed per-structure overheads make estimates unreliable there)
EXACT_CHOICE_MAX_WEIGHTS = 1 << 15


#: ``layout="auto"``: a wavelet matrix whose symbol stream costs more than this many bits per
#: weight, or whose alphabet has more than SLOW_ALPHABET symbols (the sign kept beside the
#: exponent, codebooks of > 256 values), decodes at 3-100x the byte-grouped form's time per
#: weight; a byte-grouped form at most SPEED_SIZE_SLACK times its size is then kept instead
SLOW_SYMBOL_BITS = 3.0
SLOW_ALPHABET = 257  # 256 symbols + the delimiter
SPEED_SIZE_SLACK = 1.03
#: ``layout=`` choices of :func:`encode`: the paper's wavelet-matrix grammar ("wm"), the
#: byte-grouped form (:mod:`sckit.ras.bytegroup`), or the smaller of the two ("auto")
LAYOUTS = ("auto", "wm", "bytegroup")


def encode(values: np.ndarray, *, dtype: str | None = None, kind: str = "block",
           sparse: bool | None = None, codebook: str | bool = "auto",
           max_distance: int | None = None, layout: str = "wm") -> RAS:
    """Encode a weight tensor (numpy array) as a :class:`RAS`; see :mod:`sckit.ras`.

    ``layout``: "wm" (default: symbol stream in a Huffman-shaped wavelet matrix, the paper's
    form), "bytegroup" (exponent bytes Huffman-coded apart from raw sign and mantissa bytes,
    with a chunk directory; float32 / bfloat16, or codebooks of at most 2**16 entries) or "auto"
    (what ``sckit.tensor_io.encode_tensor`` and so ``sckit.compress`` use): the wavelet-matrix
    form as chosen by the other arguments, replaced by the byte-grouped one when that is
    smaller (measured, not estimated), or at most 3% larger where the wavelet matrix would
    decode slowly (``SLOW_SYMBOL_BITS``). ``sparse=True`` keeps the wavelet matrix.

    Args:
        values: the weights. For bfloat16 pass the uint16 bit patterns with ``dtype="bfloat16"``.
        dtype: logical dtype name (default: ``values.dtype``); one of ``sckit.ras.DTYPES``.
        kind: "block" (paper 3.2) or "element" (paper 3.1).
        sparse: use ``(distance, value)`` tuples (3.3); None picks the smaller form.
        codebook: "auto" (codes + codebook when at most 2**16 distinct patterns and smaller),
            True (always; ValueError if too many distinct values) or False.
        max_distance: cap on relative distances (sparse form); None picks one of
            ``sckit.ras.sparse.DISTANCE_CHOICES`` by estimated size.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {list(LAYOUTS)}, got {layout!r}")
    if layout == "bytegroup":
        return _bytegroup(values, dtype, kind, codebook)
    r = _encode_wm(values, dtype=dtype, kind=kind, sparse=sparse, codebook=codebook,
                   max_distance=max_distance)
    if layout == "wm" or sparse is True or r.n_weights == 0:
        return r
    alt = _bytegroup_for(r, values)
    if alt is None:
        return r
    if alt.nbytes < r.nbytes:
        return alt
    # A wavelet matrix decodes level by level, so its speed falls with the symbol stream's bits
    # per weight, and trees of more than 256 leaves take the slower two-group decoder (measured,
    # one thread, float32: N(0, 0.02) 2.7 bits 0.6 ns per weight; 8.3 bits 3.1 ns; PP-OCRv4's
    # 795K-weight classifier, sign kept in 513 symbols, 3.4 bits 1.7 ns; 10,925 codebook
    # values 64 ns; a 57.6K-weight trained conv, float16, 3.6 bits, 2.6 ns); the byte-grouped
    # table decoder takes 0.3-0.9 ns there. Slow streams give way to a byte-grouped form at
    # most SPEED_SIZE_SLACK larger.
    slow = (8 * r.space()["symbols"] > SLOW_SYMBOL_BITS * r.n_weights
            or getattr(r.wm, "sigma", 0) > SLOW_ALPHABET)
    return alt if slow and alt.nbytes <= SPEED_SIZE_SLACK * r.nbytes else r


def _bytegroup(values: np.ndarray, dtype: str | None, kind: str, codebook: str | bool) -> RAS:
    """The byte-grouped form on request: on the field split (float32 / bfloat16 / float16) and/or on
    codebook codes (at most 2**16 distinct values); with ``codebook="auto"`` the smaller."""
    from sckit.ras.bytegroup import encode_bytegroup, supports

    bits, split = as_bit_view(values, dtype)
    if kind not in grammar.KINDS:
        raise ValueError(f"kind must be 'block' or 'element', got {kind!r}")
    flat, shape = bits.reshape(-1), tuple(values.shape)
    cands = []
    if codebook is not True and supports(split.dtype):
        cands.append(encode_bytegroup(flat, split, shape, kind))
    if codebook is not False and flat.size:
        found = distinct_codes(flat, MAX_CODEBOOK)
        if found is not None:
            cands.append(encode_bytegroup(found[0], split, shape, kind, codebook=found[1]))
    if not cands:
        raise ValueError(f"layout='bytegroup' holds float32 / bfloat16 / float16 or tensors of at most 2**16 "
                         f"distinct values (a codebook); got {split.dtype} "
                         f"with codebook={codebook!r}")
    return min(cands, key=lambda r: r.nbytes)


def _bytegroup_for(r: RAS, values: np.ndarray) -> RAS | None:
    """The byte-grouped rival of a wavelet-matrix RAS ``r``, or None where none applies: the
    smaller of the form on ``r``'s codebook (if any) and the one on the field split."""
    from sckit.ras.bytegroup import encode_bytegroup, supports

    bits, split = as_bit_view(values, r.dtype)
    flat = bits.reshape(-1)
    cands = []
    if r.codebook is not None and r.codebook.size <= MAX_CODEBOOK:
        codes = np.searchsorted(r.codebook, flat)
        cands.append(encode_bytegroup(codes, split, r.shape, r.kind, codebook=r.codebook))
    if supports(split.dtype):
        cands.append(encode_bytegroup(flat, split, r.shape, r.kind))
    return min(cands, key=lambda c: c.nbytes) if cands else None


def _encode_wm(values: np.ndarray, *, dtype: str | None, kind: str, sparse: bool | None,
               codebook: str | bool, max_distance: int | None) -> RAS:
    bits, split = as_bit_view(values, dtype)
    if kind not in grammar.KINDS:
        raise ValueError(f"kind must be 'block' or 'element', got {kind!r}")
    if sparse not in (None, True, False):
        raise TypeError(f"sparse must be None, True or False, got {sparse!r}")
    if codebook not in ("auto", True, False):
        raise ValueError(f"codebook must be 'auto', True or False, got {codebook!r}")
    if max_distance is not None and (not isinstance(max_distance, int) or
                                     not 1 <= max_distance < 1 << 32):
        raise ValueError(f"max_distance must be an int in [1, 2**32), got {max_distance!r}")
    flat = bits.reshape(-1)
    n = flat.size
    shape = tuple(values.shape)
    row_len = make_layout(kind, shape, 0).row_len
    n_zero = n - int(np.count_nonzero(flat)) if n else 0
    try_sparse = sparse is True or (sparse is None and n and n_zero >= SPARSE_MIN_ZERO_FRACTION * n)

    # --- value representations: field split and/or codebook codes
    reps: list[_Rep] = []
    if codebook is not True:
        reps.append(_Rep(flat, None, split, _sign_raw(flat, split)))
    if codebook is True or (codebook == "auto" and split.itemsize > 1 and n
                            and _codebook_may_win(reps[0])):
        found = distinct_codes(flat, include_zero=bool(try_sparse))
        if found is None and codebook is True:
            raise ValueError("codebook=True but the tensor has more than 2**16 distinct values")
        if found is not None:
            reps.append(_Rep(found[0], found[1], split, False))
    # --- candidates (representation, sparse?, max_distance) with estimated sizes in bits
    cands: list[tuple[float, int, bool, int | None]] = []
    gaps = sp.row_gaps(flat, max(1, row_len)) if try_sparse else None
    for i, rp in enumerate(reps):
        cb, rb = rp.codebook, rp.raw_width
        fixed = cb.size * split.itemsize * 8 if cb is not None else 0
        counts = _counts(rp.symbols(), 1) if len(reps) > 1 or try_sparse else None
        if sparse is not True:
            est = sp.huffman_bits(counts) + n * rb + fixed if counts is not None else 0.0
            cands.append((est, i, False, None))
        if try_sparse:
            assert counts is not None and gaps is not None
            nz = counts.copy()
            nz[0] -= n_zero  # the zero pattern is symbol / code 0
            value_bits = sp.huffman_bits(nz) / max(1, n - n_zero) + rb
            if max_distance is None:
                max_d, est = sp.choose_max_distance(gaps, value_bits)
            else:
                max_d, est = max_distance, 0.0
            cands.append((est + fixed, i, True, max_d))
    if n <= EXACT_CHOICE_MAX_WEIGHTS and len(cands) > 1:
        # small tensors: fixed per-structure overheads (a few hundred bytes) make estimates
        # unreliable; build the candidates near the best estimate and keep the smallest
        best = min(c[0] for c in cands)
        near = [c for c in cands if c[0] <= 1.1 * best + 8 * 2048]
        built = [_build(reps[i], make_layout(kind, shape, reps[i].alphabet), s, d)
                 for _, i, s, d in near]
        return min(built, key=lambda r: r.nbytes)
    _, i, use_sparse, cap = min(cands, key=lambda c: c[0])
    return _build(reps[i], make_layout(kind, shape, reps[i].alphabet), use_sparse, cap)


@dataclass(frozen=True)
class _Rep:
    """One value representation: bit patterns with a field split, or codebook codes."""

    x: np.ndarray  # flat bit patterns, or codes
    codebook: np.ndarray | None
    split: FieldSplit
    sign_raw: bool

    @property
    def shift(self) -> int:
        return 0 if self.codebook is not None else self.split.raw_bits

    @property
    def sign_pos(self) -> int:
        return self.split.sign_pos if self.sign_raw else -1

    @property
    def raw_width(self) -> int:
        return 0 if self.codebook is not None else self.split.raw_width(self.sign_raw)

    @property
    def alphabet(self) -> int:
        return self.codebook.size if self.codebook is not None else self.split.alphabet(self.sign_raw)

    def symbols(self) -> np.ndarray:
        if self.codebook is not None:
            return self.x
        sym = self.x >> self.shift if self.shift else self.x
        return sym & (self.alphabet - 1) if self.sign_raw else sym


def _codebook_may_win(rep: _Rep) -> bool:
    """On a 64 Ki-weight sample: do codebook codes beat the field split by 10% (before the
    codebook's own size)? Skips the full distinct-value pass for unquantized 16-bit floats,
    whose few thousand distinct values always fit a codebook that never pays."""
    flat = rep.x
    if flat.size <= 1 << 20:
        return True
    sample = flat[:: flat.size // (1 << 16)]
    sub = _Rep(sample, None, rep.split, rep.sign_raw)
    field = sp.huffman_bits(_counts(sub.symbols())) + sample.size * rep.raw_width
    codes = sp.huffman_bits(np.unique(sample, return_counts=True)[1])
    return codes < 0.9 * field


def _sign_raw(flat: np.ndarray, split: FieldSplit) -> bool:
    """Store the float sign raw (exponent-only symbols) when that is estimated smaller, from a
    sample of at most 2**16 weights: Huffman bits of sign+exponent symbols vs exponent symbols
    + one raw bit each."""
    if not split.has_sign or flat.size == 0:
        return False
    sample = flat[:: max(1, flat.size // (1 << 16))]
    sym = sample >> split.raw_bits
    with_sign = sp.huffman_bits(_counts(sym))
    exp_only = sp.huffman_bits(_counts(sym & ((1 << (split.symbol_bits - 1)) - 1))) + sample.size
    return exp_only < with_sign


def _build(rep: _Rep, layout: Layout, use_sparse: bool, max_d: int | None) -> RAS:
    x, cb, split, raw_bits = rep.x, rep.codebook, rep.split, rep.raw_width
    n = layout.n_weights
    n_delims = sum(layout.n_delimiters())
    stream: np.ndarray = np.empty(n + n_delims, dtype=_stream_dtype(layout.sigma))
    rps = layout.rps_array()
    if use_sparse:
        assert max_d is not None
        dist = np.empty(n, dtype=np.uint16 if max_d < 1 << 16 else np.uint32)
        words = np.zeros(n_raw_words(n, raw_bits), np.uint64)
        n_stream, n_entries = sp.encode_sparse(x, rep.shift, rep.sign_pos, layout.row_len,
                                               layout.n_rows, rps, layout.alphabet, max_d,
                                               stream, dist, words)
        stream, dist = stream[:n_stream], dist[:n_entries]
        words = words[: n_raw_words(n_entries, raw_bits)].copy()
    else:
        words = np.zeros(n_raw_words(n, raw_bits), np.uint64)
        n_stream = grammar.encode_dense(x, rep.shift, rep.sign_pos, layout.row_len, layout.n_rows,
                                        rps, layout.alphabet, stream, words)
        n_entries, dist = n, None
    wm_cls = _wm_class()
    wm = wm_cls(stream) if n_stream else None
    dist_wm = wm_cls(dist) if dist is not None and n_entries else None
    # the order-0 statistics come from the matrices' build histograms when first asked for
    return RAS(layout=layout, split=split, sparse=use_sparse, codebook=cb, max_distance=max_d,
               wm=wm, dist_wm=dist_wm, raw=words, n_stream=n_stream, n_entries=n_entries,
               sign_raw=rep.sign_raw)
