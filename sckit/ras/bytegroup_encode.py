"""The encoder of the byte-grouped RAS (:mod:`sckit.ras.bytegroup`): fields split, the zero
skip and float16 forms chosen, one canonical length-limited code per tensor (one symbol or a
pair per code word), the code stream, chunk directory and raw planes written into one array.
"""

from __future__ import annotations

import numpy as np

from sckit.ras import bytegroup_f16 as f16
from sckit.ras import bytegroup_kernels as K
from sckit.ras.bytegroup import (
    _MODES,
    BYTE_CODEBOOK,
    HIGH_BYTE_MIN_GAIN,
    MAX_PAIR_ALPHABET,
    PAIR_MIN_GAIN,
    PAIR_MIN_N,
    ByteGroupRAS,
    _code_words,
    _h0,
    _n_words,
    chunk_for,
    code_lengths,
    supports,
)
from sckit.ras.bytegroup_zero_skip import MIN_ZERO_FRACTION, raw_kept, zero_skip_symbols
from sckit.ras.codebook import MAX_CODEBOOK
from sckit.ras.fields import FieldSplit
from sckit.ras.grammar import make_layout

__all__ = ["encode"]


def _fields(bits: np.ndarray, dtype: str, f16_form: str | None = None, high_byte: bool = False
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(exponent bytes, raw plane lo, raw plane hi or None) of flat bit patterns (float16:
    the fields of its form, :func:`sckit.ras.bytegroup_f16.fields`; ``high_byte``: the top
    byte for float32 / bfloat16, then the rest as it lies)."""
    if dtype == "float16":
        return f16.fields(bits, f16_form or "sign_plane")
    if high_byte:
        if dtype == "float32":
            return ((bits >> 24).astype(np.uint8), (bits & 0xFFFF).astype(np.uint16),
                    ((bits >> 16) & 0xFF).astype(np.uint8))
        return (bits >> 8).astype(np.uint8), (bits & 0xFF).astype(np.uint8), None
    if dtype == "float32":
        ex = ((bits >> 23) & 0xFF).astype(np.uint8)
        lo = (bits & 0xFFFF).astype(np.uint16)
        hi = (((bits >> 16) & 0x7F) | ((bits >> 24) & 0x80)).astype(np.uint8)
        return ex, lo, hi
    ex = ((bits >> 7) & 0xFF).astype(np.uint8)
    return ex, ((bits & 0x7F) | ((bits >> 8) & 0x80)).astype(np.uint8), None


def _quantize(counts: np.ndarray) -> np.ndarray:
    """q per symbol (uint8); a count of 0 (a complete code's unused sibling) gets the floor."""
    q = np.full(counts.size, 255, np.uint8)
    nz = counts > 0
    q[nz] = np.clip(np.round(-16 * np.log2(counts[nz] / counts.sum())), 0, 255)
    return q


def _high_byte_pays(bits: np.ndarray, dtype: str, zero_skip: bool | None) -> bool:
    """Whether float32 / bfloat16 weights take the high-byte form: where the sign follows the
    magnitude (all-positive norm scales and variances; PP-OCRv4 rec's classifier), coding the
    sign with the top 7 exponent bits saves more than the exponent's last bit, now raw, costs.
    Its symbols are ~1 bit longer, so fewer per table lookup: on tensors of >= PAIR_MIN_N
    weights it must save HIGH_BYTE_MIN_GAIN bits per weight (as pair codes must), on smaller
    ones 8 bytes (table sizes differ). Pruned tensors (the zero skip's) keep the exponent."""
    n = bits.size
    shift = 23 if dtype == "float32" else 7
    exp = ((bits >> shift) & 0xFF).astype(np.uint8)
    if zero_skip is True:
        return False
    if zero_skip is None:  # the exponent form would take the zero skip: keep it
        zs = zero_skip_symbols(bits, exp, dtype)
        if zs is not None and n - int(raw_kept(zs).sum()) >= MIN_ZERO_FRACTION * n:
            return False
    top = (bits >> (shift + 1)).astype(np.uint8)
    gain = _h0(np.bincount(exp, minlength=256)) - _h0(np.bincount(top, minlength=256))
    return gain > (HIGH_BYTE_MIN_GAIN * n if n >= PAIR_MIN_N else 64)


def encode(bits: np.ndarray, split: FieldSplit, shape: tuple[int, ...], kind: str,
           codebook: np.ndarray | None = None, pairs: bool | None = None,
           zero_skip: bool | None = None, f16_form: str | None = None,
           high_byte: bool | None = None) -> ByteGroupRAS:
    """Build the byte-grouped form. ``bits``: flat bit patterns, or codebook indices when
    ``codebook`` is given; ``pairs``: None picks one or two symbols per code word by size;
    ``zero_skip`` (:mod:`sckit.ras.bytegroup_zero_skip`): None takes it where it applies and
    at least ``MIN_ZERO_FRACTION`` of the weights are +-0.0, True requires it (ValueError
    where it does not apply); ``f16_form`` (float16, one of ``bytegroup_f16.FORMS``): None
    builds each and keeps one by :func:`sckit.ras.bytegroup_f16.choose`; ``high_byte``
    (float32 / bfloat16): the sign and top 7 exponent bits coded instead of the exponent,
    None where :func:`_high_byte_pays`."""
    if high_byte is None:
        high_byte = (codebook is None and split.dtype in ("float32", "bfloat16")
                     and _high_byte_pays(bits.reshape(-1), split.dtype, zero_skip))
    elif high_byte and (codebook is not None or split.dtype not in ("float32", "bfloat16")
                        or zero_skip):
        raise ValueError(f"high_byte is for float32 / bfloat16 without codebook or zero skip; "
                         f"got {split.dtype}{' with a codebook' if codebook is not None else ''}")
    if f16_form is None and codebook is None and split.dtype == "float16":
        cands, refused = {}, None
        for form in f16.FORMS:
            try:
                cands[form] = encode(bits, split, shape, kind, pairs=pairs,
                                     zero_skip=zero_skip, f16_form=form)
            except ValueError as e:  # pairs=True or zero_skip=True that this form cannot take
                refused = e
        if not cands:
            assert refused is not None
            raise refused
        return f16.choose(cands)
    if f16_form is not None and (codebook is not None or split.dtype != "float16"
                                 or f16_form not in f16.FORMS):
        raise ValueError(f"f16_form is one of {list(f16.FORMS)}, for float16 without codebook; "
                         f"got {f16_form!r} for {split.dtype}")
    n = int(bits.size)
    if n == 0:
        raise ValueError("the byte-grouped layout needs at least one weight")
    if codebook is not None:
        if not supports(split.dtype, codebook):
            raise ValueError(f"codebook of {codebook.size} entries: the byte-grouped layout "
                             f"holds 1 .. {MAX_CODEBOOK}")
        if codebook.size > BYTE_CODEBOOK:  # wide: high byte coded, low byte raw
            ex, lo, hi = (bits >> 8).astype(np.uint8), (bits & 0xFF).astype(np.uint8), None
        else:
            ex, lo, hi = bits.astype(np.uint8), None, None
    elif split.dtype in _MODES:
        ex, lo, hi = _fields(bits.reshape(-1), split.dtype, f16_form, high_byte)
    else:
        raise ValueError(f"the byte-grouped layout holds float32 / bfloat16 / float16 or codebooks, "
                         f"not {split.dtype}")
    counts1 = np.bincount(ex, minlength=256)
    raw_at, sub = None, False
    if codebook is None and zero_skip is not False and not high_byte:
        zs = zero_skip_symbols(bits.reshape(-1), ex, split.dtype, f16_form)
        if zero_skip and zs is None:
            raise ValueError("zero_skip needs float32 / bfloat16 weights with zeros, no "
                             "subnormal and no inf / nan, or float16 in its high-byte form with "
                             "zeros and no nan of high byte 0x7F / 0xFF")
        keep = None if zs is None else raw_kept(zs)
        if zs is not None and keep is not None and (
                zero_skip or n - int(keep.sum()) >= MIN_ZERO_FRACTION * n):
            ex = zs
            counts1 = np.bincount(ex, minlength=256)
            sub = split.dtype == "float16" and bool(counts1[f16.SUB_SYMBOL])
            assert lo is not None  # the field split always has a low plane
            lo = lo[keep]
            hi = hi[keep] if hi is not None else None
            per_chunk = np.add.reduceat(keep.astype(np.int64), np.arange(0, n, chunk_for(n)))
            raw_at = np.concatenate([[0], np.cumsum(per_chunk)[:-1]]).astype(np.int64)
    alpha = np.flatnonzero(counts1).astype(np.uint8)
    if alpha.size == 1:  # a complete code needs two symbols: add an unused neighbour
        alpha = np.array(sorted({int(alpha[0]), int(alpha[0]) ^ 1}), np.uint8)
    d = alpha.size
    inv = np.zeros(256, np.intp)
    inv[alpha] = np.arange(d)
    idx = inv[ex]
    q = _quantize(counts1[alpha])
    single_len = code_lengths(q, False)
    single_cost = int((counts1[alpha] * single_len).sum())
    use_pairs = False
    if pairs is not False and d <= MAX_PAIR_ALPHABET:
        padded = idx if n % 2 == 0 else np.append(idx, idx[-1])
        psym = padded[0::2] * d + padded[1::2]
        pair_len = code_lengths(q, True)
        pair_cost = int((np.bincount(psym, minlength=d * d) * pair_len).sum())
        gain = PAIR_MIN_GAIN * n if n >= PAIR_MIN_N else 0
        use_pairs = pairs is True or pair_cost < single_cost - gain
    elif pairs is True:
        raise ValueError(f"pair codes need at most {MAX_PAIR_ALPHABET} distinct symbols, got {d}")
    if use_pairs:
        sym, lengths, chunk_syms = psym, pair_len, chunk_for(n) // 2
    else:
        sym, lengths, chunk_syms = idx, single_len, chunk_for(n)
    codes = K.canonical_codes(lengths)
    total = int((np.bincount(sym, minlength=lengths.size) * lengths).sum())
    planes = [p for p in (lo, hi, codebook) if p is not None]
    words = np.zeros(_n_words(total, [p.nbytes for p in planes]), np.uint64)
    starts = np.zeros(-(-sym.size // chunk_syms), np.uint64)
    K.encode_bits(sym.astype(np.int64), codes, lengths, chunk_syms, words, starts)
    wb = words.view(np.uint8)
    pos = 8 * _code_words(total)
    for p in planes:
        wb[pos:pos + p.nbytes] = p.view(np.uint8)
        pos += 8 * -(-p.nbytes // 8)
    n_raw = n if raw_at is None or lo is None else int(lo.size)
    r = ByteGroupRAS(layout=make_layout(kind, tuple(shape), 256), split=split,
                     n_codebook=0 if codebook is None else codebook.size, pairs=use_pairs,
                     alpha=alpha, q=q, lengths=lengths, words=words, starts=starts,
                     total_bits=total, raw_at=raw_at, n_raw=n_raw, f16_form=f16_form,
                     zero_skip_sub=sub, high_byte=high_byte)
    r._h0 = _h0(counts1) + (n_raw * r.raw_bits if codebook is None else
                            codebook.size * split.itemsize * 8 + (8 * n if lo is not None else 0))
    return r
