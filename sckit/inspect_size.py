"""RAS sizes for the inspection table: estimated from a histogram, or exact by encoding.

Building the wavelet matrices of a 100M-weight model takes seconds per layer; the table only needs
their size. A Huffman-shaped wavelet matrix stores each symbol in its Huffman code length plus the
bit vectors' rank/select directories (Succinct Compression, sec. 3; ``sckit.ras.sparse.huffman_bits``
charges the same 3.9 %), and the raw mantissa bits cost their width. So the size follows from the
symbol histogram and the row layout, which :func:`estimate_size` computes from a sample of
contiguous runs of the tensor (runs keep the zero gaps of pruned rows intact for the sparse form),
making the same choices ``sckit.ras.encode`` makes (raw float sign, codebook, sparse) by the same
estimates. :func:`exact_size` encodes for the real size. ``benchmarks/bench_inspect.py --check``
measures the estimate's error against exact sizes on the zoo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["SizeEstimate", "estimate_size", "exact_size", "SAMPLE_WEIGHTS"]

#: weights sampled per tensor (as RUNS contiguous runs); smaller tensors are read whole
SAMPLE_WEIGHTS = 1 << 16
_RUNS = 64
# fixed bytes of one serialized RAS beside its arrays (header, wavelet-matrix level tables):
# the typical gap between exact sizes and the stream + raw estimate on the zoo (4K-40K weights)
_FIXED_BYTES = 128


@dataclass(frozen=True)
class SizeEstimate:
    """Order-0 entropy per weight and RAS bytes of one tensor (``exact``: really encoded)."""

    h0_bits: float
    nbytes: float
    exact: bool


def _bits(t: torch.Tensor) -> tuple[np.ndarray, str]:
    """Flat integer view of ``t``'s bit patterns and its RAS dtype name (no float arithmetic)."""
    from sckit.tensor_io import _TORCH, ras_dtype

    name = ras_dtype(t.dtype)
    a = t.detach().to("cpu")
    if not a.is_contiguous():
        a = a.contiguous()
    return a.view(_TORCH[t.dtype][1]).numpy().reshape(-1), name


def _spread(flat: np.ndarray) -> np.ndarray:
    """``flat`` itself when small, else SAMPLE_WEIGHTS elements at seeded random positions: for
    symbol histograms. Strided samples alias with the layout (a stride that divides a 3x3
    kernel's 9 sees one kernel position) and runs see few channels (per-channel codebooks)."""
    n = flat.size
    if n <= SAMPLE_WEIGHTS:
        return flat
    idx = np.random.default_rng(0).integers(0, n, SAMPLE_WEIGHTS)
    idx.sort()
    return flat[idx]


def _sample(flat: np.ndarray, row_len: int) -> np.ndarray:
    """``flat`` itself when small, else _RUNS contiguous runs starting at row boundaries: for the
    zero gaps of the sparse form, which only runs keep."""
    n = flat.size
    if n <= SAMPLE_WEIGHTS:
        return flat
    run = SAMPLE_WEIGHTS // _RUNS
    if row_len and row_len <= run:
        run -= run % row_len  # whole rows, so in-row zero gaps are those of the tensor
    starts = np.linspace(0, n - run, _RUNS).astype(np.int64)
    if row_len:
        starts -= starts % row_len
    return np.concatenate([flat[s : s + run] for s in starts])


def estimate_size(t: torch.Tensor, kind: str, *, n_zero: int | None = None) -> SizeEstimate:
    """Estimated :class:`SizeEstimate` of ``encode_tensor(t, kind=kind)`` without encoding.

    Cost: one pass over at most :data:`SAMPLE_WEIGHTS` weights (``n_zero``, the tensor's exact
    number of zero elements, saves a pass over the whole tensor when the caller has it).
    """
    from sckit.ras import sparse as sp
    from sckit.ras.core import _counts, _h0_total
    from sckit.ras.encoder import SPARSE_MIN_ZERO_FRACTION, _sign_raw
    from sckit.ras.fields import split_for
    from sckit.ras.grammar import make_layout

    shape = tuple(int(s) for s in t.shape)
    n = math.prod(shape)
    if n == 0:
        return SizeEstimate(math.nan, 0.0, False)
    flat, name = _bits(t)
    split = split_for(name)
    flat = flat.view(split.uint)
    row_len = make_layout(kind, shape, 2).row_len
    sample = _spread(flat)
    scale = n / sample.size
    if n_zero is None:
        n_zero = n - int(np.count_nonzero(flat))
    sign_raw = _sign_raw(sample, split)
    raw = split.raw_width(sign_raw)
    alphabet = split.alphabet(sign_raw)
    sym = sample >> split.raw_bits if split.raw_bits else sample
    if sign_raw:
        sym = sym & (alphabet - 1)
    counts = _counts(sym, alphabet)
    zeros_in_sample = sample.size - int(np.count_nonzero(sample))
    # (histogram, raw bits, alphabet, fixed bits, scale to the tensor, zeros in the histogram)
    options = [(counts, raw, alphabet, 0.0, scale, zeros_in_sample)]
    if split.itemsize > 1:
        # the encoder's codebook test (sckit.ras.encoder._codebook_may_win, above 2**20
        # weights): codes beat the field split by 10 % on a sample; then the tensor must have
        # <= 2**16 distinct values, which only a pass over all of it tells
        values, vcounts = np.unique(sample, return_counts=True)
        field = sp.huffman_bits(counts) + sample.size * raw
        # a sample of mostly distinct values means far more than 2**16 in the tensor
        few = sample.size == n or values.size < sample.size // 2
        if few and (n <= 1 << 20 or sp.huffman_bits(vcounts) < 0.9 * field):
            if sample.size == n:
                options.append((vcounts, 0, int(values.size), values.size * split.itemsize * 8.0,
                                1.0, zeros_in_sample))
            else:
                from sckit.ras.codebook import distinct_codes

                found = distinct_codes(flat)
                if found is not None:
                    # that pass gave every code: the exact histogram (a sample of a few
                    # thousand codes under-counts their entropy badly)
                    k = int(found[1].size)
                    options.append((np.bincount(found[0], minlength=k), 0, k,
                                    k * split.itemsize * 8.0, 1.0, n_zero))
    # candidates: (the encoder's own estimate, our size estimate, our h0) -- large tensors get
    # the form the encoder's estimate prefers, small ones the really smallest (it builds them)
    cands: list[tuple[float, float, float]] = []
    for cnt, rb, alpha, cb_bits, opt_scale, zeros in options:
        layout = make_layout(kind, shape, alpha)
        delims = np.asarray(layout.n_delimiters(), dtype=np.float64)
        scaled = cnt.astype(np.float64) * opt_scale
        stream = np.concatenate([scaled, delims]).round().astype(np.int64)
        # the Huffman-shaped matrix keeps a code table entry per distinct symbol (~1.1 bytes,
        # measured): it matters for codebooks of a few thousand values
        table = 8 * 1.1 * (alpha if cb_bits else int(np.count_nonzero(cnt)))
        encoder_est = sp.huffman_bits(scaled.round().astype(np.int64)) + n * rb + cb_bits
        cands.append((encoder_est, sp.huffman_bits(stream) + n * rb + cb_bits + table,
                      _h0_total(stream) + n * rb + cb_bits))
        if n_zero >= SPARSE_MIN_ZERO_FRACTION * n:
            # zeros leave the value stream; the gaps before non-zeros go to a distance stream
            nz = scaled.copy()
            nz[0] = max(0.0, nz[0] - zeros * opt_scale)
            values_t = nz / max(1.0, nz.sum()) * (n - n_zero)
            value_bits = sp.huffman_bits(values_t.round().astype(np.int64)) / max(1, n - n_zero) + rb
            gaps = sp.row_gaps(_sample(flat, row_len), max(1, row_len))
            if gaps.size:
                cap, _ = sp.choose_max_distance(gaps, value_bits)
                # entries: the non-zeros plus a zero filler per cap+1 zeros of a longer gap;
                # the runs' gaps (one per non-zero) scale to the tensor's non-zeros
                g_scale = (n - n_zero) / gaps.size
                fill = float((gaps // (cap + 1)).sum()) * g_scale
                dist = np.bincount(gaps % (cap + 1), minlength=cap + 1).astype(np.float64)
                dist[cap] += fill / g_scale
                dist_t = (dist * g_scale).round().astype(np.int64)
                values_t[0] += fill
                stream_s = np.concatenate([values_t, delims]).round().astype(np.int64)
                entries = (n - n_zero) + fill
                dist_bits = sp.huffman_bits(dist_t)
                cands.append((entries * value_bits + dist_bits + cb_bits,
                              sp.huffman_bits(stream_s) + entries * rb + dist_bits + cb_bits
                              + table,
                              _h0_total(stream_s) + entries * rb + cb_bits + _h0_total(dist_t)))
    from sckit.ras.encoder import EXACT_CHOICE_MAX_WEIGHTS

    pick = (lambda c: c[1]) if n <= EXACT_CHOICE_MAX_WEIGHTS else (lambda c: c[0])
    chosen = min(cands, key=pick)
    best: tuple[float, float] | None = (chosen[1], chosen[2])
    assert best is not None
    # sckit.ras.encode keeps the byte-grouped form where it is smaller
    byte = _bytegroup_bits(sample, split, n, options)
    if byte[0] < best[0]:
        best = byte
    return SizeEstimate(best[1] / n, best[0] / 8 + _FIXED_BYTES, False)


def _bytegroup_bits(sample: np.ndarray, split: Any, n: int,
                    options: list[tuple[np.ndarray, int, int, float, float, int]]
                    ) -> tuple[float, float]:
    """(bits, h0 bits) of the byte-grouped form (ZipNN's byte grouping with random access,
    ``sckit.ras.bytegroup``) where the encoder has it, else infinite: the exponent byte (or a
    codebook index of <= 256 values) Huffman-coded, one code per pair of weights when at most
    64 symbols occur, sign and mantissa raw (not for zeros, with the zero skip), 32 bits of
    directory per 8192 weights."""
    try:
        from sckit.ras import bytegroup as bg
        from sckit.ras import bytegroup_f16 as f16
        from sckit.ras.bytegroup_zero_skip import MIN_ZERO_FRACTION, raw_kept, zero_skip_symbols
        from sckit.ras.encoder import LAYOUTS  # noqa: F401  (the encoder chooses it)
    except ImportError:
        return math.inf, math.inf
    from sckit.ras import sparse as sp
    from sckit.ras.core import _h0_total

    cands: list[tuple[np.ndarray, float, float, float]] = []
    if bg.supports(split.dtype):
        if split.dtype == "float16":  # each of its forms (sckit.ras.bytegroup_f16)
            for f in f16.FORMS:
                cands.append((np.bincount(f16.symbols(sample, f), minlength=256),
                              f16.RAW_BITS[f], 0.0, n / sample.size))
            form = f16.ZERO_SKIP_FORM
            ex, raw = f16.symbols(sample, form), f16.RAW_BITS[form]
        else:
            ex = ((sample >> (23 if split.dtype == "float32" else 7)) & 0xFF).astype(np.uint8)
            raw, form = split.raw_width(True), None
            cands.append((np.bincount(ex, minlength=256), raw, 0.0, n / sample.size))
            top = (sample >> (24 if split.dtype == "float32" else 8)).astype(np.uint8)
            cands.append((np.bincount(top, minlength=256), raw, 0.0, n / sample.size))  # high byte
        # zero skip (pruned, unquantized): +-0.0 as symbols 0 / 255 without raw bytes, plus a
        # raw offset per chunk; by the encoder's rule, on the sample
        zs = zero_skip_symbols(sample, ex, split.dtype, form)
        if zs is not None:
            n0 = sample.size - int(raw_kept(zs).sum())
            if n0 >= MIN_ZERO_FRACTION * sample.size:
                cands.append((np.bincount(zs, minlength=256), raw * (1 - n0 / sample.size),
                              32.0 * math.ceil(n / bg.CHUNK), n / sample.size))
    for cnt, _rb, alpha, fixed, opt_scale, _z in options[1:]:  # a codebook (wavelet-matrix form)
        if alpha <= 256:
            cands.append((cnt, 0, fixed, opt_scale))
    best = (math.inf, math.inf)
    for cnt, rb, fixed, opt_scale in cands:
        c = (cnt[cnt > 0].astype(np.float64) * opt_scale).round().astype(np.int64)
        h0 = _h0_total(c)
        single = sp.huffman_bits(c) / 1.039  # no rank directories here
        # pair codes cut Huffman's redundancy to ~0.02 bits per weight (measured by its author);
        # the encoder takes them on big tensors only where they save PAIR_MIN_GAIN
        gain = bg.PAIR_MIN_GAIN * n if n >= bg.PAIR_MIN_N else 0.0
        pair = h0 + 0.02 * n
        stream = pair if c.size <= bg.MAX_PAIR_ALPHABET and pair < single - gain else single
        sym = np.flatnonzero(cnt)  # the table: q per symbol + the alphabet, listed or mapped
        table = c.size + min(c.size, 2 + (int(sym[-1]) - int(sym[0])) // 8 + 1)
        bits = stream + n * rb + fixed + 32 * math.ceil(n / bg.CHUNK) + 8 * table
        if bits < best[0]:
            best = (bits, h0 + n * rb + fixed)
    return best


def exact_size(t: torch.Tensor, kind: str) -> SizeEstimate:
    """Encode ``t`` (``sckit.tensor_io.encode_tensor``) and report its real size."""
    from sckit.tensor_io import encode_tensor

    if t.numel() == 0:
        return SizeEstimate(math.nan, 0.0, True)
    r = encode_tensor(t.detach(), kind=kind)
    return SizeEstimate(float(r.h0_bits), float(r.nbytes), True)
