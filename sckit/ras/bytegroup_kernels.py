"""numba kernels of the byte-grouped RAS (:mod:`sckit.ras.bytegroup`): canonical Huffman codes
of exponent bytes (or pairs of them) in an LSB-first bit stream, decoded through a multi-symbol
lookup table, four chunks at a time.

Why this shape: a table indexed by the next ``LUT_BITS`` bits of the stream yields every code
word that lies wholly inside those bits (up to ``MAX_OUT`` bytes), so one lookup decodes ~4
exponents of trained weights (~2.5 bits each). A single stream is latency-bound (bit position ->
word load -> table load -> bit position), so four chunks, which start at known bit offsets, are
decoded in one loop to overlap four such chains. Outputs go to an L1-sized scratch; a second,
branch-free pass joins each exponent with its raw sign and mantissa bytes.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sckit.ras.bytegroup_f16 import ZERO_SKIP_MODE, ZERO_SKIP_SUB_MODE, merge_f16
from sckit.ras.bytegroup_zero_skip import join16, join32, merge_zero_skip
from sckit.succinct._bitops import load_u64 as _load_u64
from sckit.succinct._bitops import store_u64 as _store_u64
from sckit.succinct._hwm_kernels import minimum_redundancy_inplace, package_merge_lengths

__all__ = ["LUT_BITS", "MAX_OUT", "build_lut", "canonical_codes", "decode_range", "encode_bits",
           "load_tables"]

LUT_BITS = 12  # code words are length-limited to this; 4096 x 8-byte table fits L1
MAX_OUT = 7  # output bytes one table entry holds (bytes 0..6; byte 7 = count << 5 | bits)
SLACK = 8  # scratch bytes past a chunk: a lookup writes MAX_OUT bytes unconditionally
PREFETCH_MIN = 4096  # weights from which a decode first streams its table in (decode_range)


@njit(cache=True, nogil=True)
def canonical_codes(lengths):
    """Canonical code words (shorter first, ties by symbol index), bit-reversed so that the
    first bit of a code is its least significant bit (LSB-first streams). 0 length: absent."""
    n = lengths.size
    codes = np.zeros(n, np.uint32)
    code = np.uint32(0)
    prev = 0
    for length in range(1, 33):
        for s in range(n):
            if lengths[s] == length:
                if prev:
                    code = np.uint32(code << np.uint32(length - prev))
                prev = length
                rev = np.uint32(0)
                c = code
                for _ in range(length):
                    rev = np.uint32((rev << np.uint32(1)) | (c & np.uint32(1)))
                    c = np.uint32(c >> np.uint32(1))
                codes[s] = rev
                code = np.uint32(code + np.uint32(1))
    return codes


@njit(cache=True, nogil=True)
def build_lut(lengths, codes, out_bytes, width, lut_bits):
    """Decoding table of a complete canonical code (``codes`` LSB-first, ``lengths`` <= 32).

    Entry ``w`` (the next ``lut_bits`` stream bits) holds the output bytes of every whole code
    word at the start of ``w`` (``width`` bytes per symbol, ``out_bytes[s * width + j]``), at most
    ``MAX_OUT`` bytes, in bytes 0..6, and ``count << 5 | bits used`` in byte 7. A window that is
    the prefix of a longer code word holds ``count = bits = 0``, the index of a second-level
    table in bits 0..31 and its index width ``k`` in bits 32..39: entries ``[index, index +
    2**k)`` after the first ``2**lut_bits`` are one-symbol entries for the next ``k`` bits."""
    size = 1 << lut_bits
    max_len = 0
    for s in range(lengths.size):
        max_len = max(max_len, int(lengths[s]))
    k = max(0, max_len - lut_bits)
    single_sym = np.full(size, -1, np.int64)
    single_len = np.zeros(size, np.int64)
    sub_of = np.full(size, -1, np.int64)  # second-level table of a long-code prefix
    n_sub = 0
    for s in range(lengths.size):
        ln = int(lengths[s])
        if ln == 0:
            continue
        if ln <= lut_bits:
            for w in range(int(codes[s]), size, 1 << ln):
                single_sym[w] = s
                single_len[w] = ln
        else:
            p = int(codes[s]) & (size - 1)
            if sub_of[p] < 0:
                sub_of[p] = n_sub
                n_sub += 1
    lut = np.zeros(size + (n_sub << k), np.uint64)
    for s in range(lengths.size):
        ln = int(lengths[s])
        if ln <= lut_bits:
            continue
        base = size + (sub_of[int(codes[s]) & (size - 1)] << k)
        e = np.uint64((width << 5) | ln) << np.uint64(56)
        for j in range(width):
            e |= np.uint64(out_bytes[s * width + j]) << np.uint64(8 * j)
        for r in range(int(codes[s]) >> lut_bits, 1 << k, 1 << (ln - lut_bits)):
            lut[base + r] = e
    for w in range(size):
        if single_sym[w] < 0:
            if sub_of[w] >= 0:
                lut[w] = np.uint64(size + (sub_of[w] << k)) | (np.uint64(k) << np.uint64(32))
            continue
        used = 0
        count = 0
        acc = np.uint64(0)
        while True:
            sub = w >> used
            s = single_sym[sub]
            ln = single_len[sub]
            if s < 0 or ln > lut_bits - used or count + width > MAX_OUT:
                break
            for j in range(width):
                acc |= np.uint64(out_bytes[s * width + j]) << np.uint64(8 * (count + j))
            count += width
            used += ln
            if used == lut_bits:
                break
        acc |= np.uint64((count << 5) | used) << np.uint64(56)
        lut[w] = acc
    return lut


_TOP = np.uint64(1) << np.uint64(56)  # entries below this point to the second level


@njit(cache=True, nogil=True)
def load_tables(q, alpha, pairs, max_length, lut_bits, pow16):
    """A loaded tensor's code lengths and decoding table from its stored quantized probabilities
    in one call: what ``bytegroup.code_lengths`` + ``canonical_codes`` + ``build_lut`` give
    (same weights, the same stable sort, Moffat-Katajainen then package-merge past
    ``max_length``), without ~15 numpy calls per tensor: loading a 64-weight tensor took 25 us
    in them, the size of everything else it does."""
    d = q.shape[0]
    m = d * d if pairs else d
    w = np.empty(m, np.int64)
    for i in range(m):
        qq = np.int64(q[i // d]) + np.int64(q[i % d]) if pairs else np.int64(q[i])
        w[i] = (pow16[qq & 15] << 24) >> (qq >> 4)
    lengths = np.zeros(m, np.uint8)
    if m > 1:
        order = np.argsort(w, kind="mergesort")  # stable, as numpy's kind="stable"
        sw = w[order]
        lens = sw.copy()
        minimum_redundancy_inplace(lens)
        if lens[0] > max_length:
            lens = package_merge_lengths(sw, max_length)
        for i in range(m):
            lengths[order[i]] = lens[i]
    width = 2 if pairs else 1
    out_bytes = np.empty(m * width, np.uint8)
    for i in range(m):
        if pairs:
            out_bytes[2 * i] = alpha[i // d]
            out_bytes[2 * i + 1] = alpha[i % d]
        else:
            out_bytes[i] = alpha[i]
    return lengths, build_lut(lengths, canonical_codes(lengths), out_bytes, width, lut_bits)


@njit(cache=True, nogil=True)
def _second(lut, e, x, lut_bits):
    """``e`` itself, or for a long-code prefix entry the second-level entry of bits ``x``.
    Kept out of line and called only when one of a step's entries is long: a branch per
    lookup inside the four-stream loop made it 5x slower (LLVM stopped interleaving)."""
    if e >= _TOP:
        return e
    k = (e >> np.uint64(32)) & np.uint64(63)
    return lut[(e & np.uint64(0xFFFFFFFF)) + ((x >> np.uint64(lut_bits))
                                              & ((np.uint64(1) << k) - np.uint64(1)))]


@njit(cache=True, nogil=True)
def encode_bits(symbols, codes, lengths, chunk_syms, words, starts):
    """Write the code words of ``symbols`` LSB-first into ``words``; ``starts[c]`` = bit offset of
    symbol ``c * chunk_syms``. Returns the total number of bits."""
    acc = np.uint64(0)
    nacc = 0
    w = 0
    bit = 0
    for i in range(symbols.size):
        if i % chunk_syms == 0:
            starts[i // chunk_syms] = bit
        s = symbols[i]
        ln = int(lengths[s])
        c = np.uint64(codes[s])
        acc |= c << np.uint64(nacc)
        nacc += ln
        bit += ln
        if nacc >= 64:
            words[w] = acc
            w += 1
            nacc -= 64
            acc = c >> np.uint64(ln - nacc) if nacc else np.uint64(0)
    if nacc:
        words[w] = acc
    return bit


@njit(cache=True, nogil=True, inline="always")
def _peek(wb, bit):
    """The stream bits from ``bit`` on (at least 57 valid): ``wb`` is the words as bytes."""
    return _load_u64(wb, bit >> 3) >> np.uint64(bit & 7)


@njit(cache=True, nogil=True, inline="always")
def _put(dst, o, e):
    _store_u64(dst, o, e)  # bytes o..o+7; byte 7 (the info) is overwritten later


@njit(cache=True, nogil=True)
def _decode_one(words, bit, end_bit, n_out, lut, lut_bits, dst, d0):
    """One chunk: ``n_out`` bytes from bit ``bit`` into ``dst[d0:]``. False when the stream is
    corrupt (the chunk's bits, which end at ``end_bit``, run out first). Needs a complete code
    (every window starts a code word: checked on load)."""
    mask = np.uint64((1 << lut_bits) - 1)
    o = np.int64(0)
    # unchecked rounds of three lookups per stream load, as in _decode_four (the lookup is
    # written out in both loops: an inline helper returning the info byte made tensors of
    # 512-1,500 weights 1.7-2.3x slower to decode)
    k = min((n_out - o) // (3 * MAX_OUT), (end_bit - bit) // 48)
    while k >= 2:
        for _ in range(k):
            y = _peek(words, bit)
            for _j in range(3):
                e = lut[y & mask]
                if e < _TOP:
                    e = _second(lut, e, y, lut_bits)
                _put(dst, d0 + o, e)
                info = e >> np.uint64(56)
                o += np.int64(info >> np.uint64(5))
                nb = info & np.uint64(31)
                bit += np.int64(nb)
                y >>= nb
        k = min((n_out - o) // (3 * MAX_OUT), (end_bit - bit) // 48)
    while o < n_out:
        if bit >= end_bit:
            return False
        y = _peek(words, bit)
        e = lut[y & mask]
        if e < _TOP:
            e = _second(lut, e, y, lut_bits)
        _put(dst, d0 + o, e)
        info = e >> np.uint64(56)
        o += np.int64(info >> np.uint64(5))
        bit += np.int64(info & np.uint64(31))
    return True


@njit(cache=True, nogil=True)
def _decode_four(words, starts, total_bits, c, n_out, n_last, lut, lut_bits, dst, stride):
    """Chunks ``c .. c+3`` interleaved (``n_out`` bytes each, ``n_last`` for the fourth: it may
    be the tensor's short last chunk): four independent bit positions, each bounded by the next
    chunk's start (reads never leave the stream, even if corrupt)."""
    mask = np.uint64((1 << lut_bits) - 1)
    b0 = np.int64(starts[c])
    b1 = np.int64(starts[c + 1])
    b2 = np.int64(starts[c + 2])
    b3 = np.int64(starts[c + 3])
    e0 = b1
    e1 = b2
    e2 = b3
    e3 = np.int64(starts[c + 4]) if c + 4 < starts.size else total_bits
    o0 = np.int64(0)
    o1 = np.int64(0)
    o2 = np.int64(0)
    o3 = np.int64(0)
    s1 = stride
    s2 = 2 * stride
    s3 = 3 * stride
    while True:
        # Rounds of steps every stream can take unchecked; a step is three table lookups per
        # stream: it writes at most 3 * MAX_OUT bytes and reads at most 3 * 16 bits (codes are
        # length-limited to 16; a first-level entry reads <= lut_bits). Bound checks once per
        # round, not eight per lookup (3-8% of the decode time). Within a step the next window
        # is the last one shifted (a peek leaves >= 57 valid bits, enough for three lookups of
        # <= 16), so a stream's dependency chain is table load -> shift rather than position ->
        # stream load -> shift -> table load. The last few symbols of each stream go through
        # the checked one-stream decoder.
        k = min((n_out - o0) // (3 * MAX_OUT), (n_out - o1) // (3 * MAX_OUT),
                (n_out - o2) // (3 * MAX_OUT), (n_last - o3) // (3 * MAX_OUT),
                (e0 - b0) // 48, (e1 - b1) // 48, (e2 - b2) // 48, (e3 - b3) // 48)
        if k < 2:
            break
        for _ in range(k):
            y0 = _peek(words, b0)
            y1 = _peek(words, b1)
            y2 = _peek(words, b2)
            y3 = _peek(words, b3)
            for _j in range(3):  # (a constant trip count: LLVM unrolls it)
                x0 = lut[y0 & mask]
                x1 = lut[y1 & mask]
                x2 = lut[y2 & mask]
                x3 = lut[y3 & mask]
                if (x0 < _TOP) | (x1 < _TOP) | (x2 < _TOP) | (x3 < _TOP):  # a long code: rare
                    x0 = _second(lut, x0, y0, lut_bits)
                    x1 = _second(lut, x1, y1, lut_bits)
                    x2 = _second(lut, x2, y2, lut_bits)
                    x3 = _second(lut, x3, y3, lut_bits)
                _put(dst, o0, x0)
                _put(dst, s1 + o1, x1)
                _put(dst, s2 + o2, x2)
                _put(dst, s3 + o3, x3)
                i0 = x0 >> np.uint64(56)
                i1 = x1 >> np.uint64(56)
                i2 = x2 >> np.uint64(56)
                i3 = x3 >> np.uint64(56)
                o0 += np.int64(i0 >> np.uint64(5))
                o1 += np.int64(i1 >> np.uint64(5))
                o2 += np.int64(i2 >> np.uint64(5))
                o3 += np.int64(i3 >> np.uint64(5))
                n0 = i0 & np.uint64(31)
                n1 = i1 & np.uint64(31)
                n2 = i2 & np.uint64(31)
                n3 = i3 & np.uint64(31)
                b0 += np.int64(n0)
                b1 += np.int64(n1)
                b2 += np.int64(n2)
                b3 += np.int64(n3)
                y0 >>= n0
                y1 >>= n1
                y2 >>= n2
                y3 >>= n3
    ok = _finish(words, b0, o0, e0, n_out, lut, lut_bits, dst, 0)
    ok &= _finish(words, b1, o1, e1, n_out, lut, lut_bits, dst, s1)
    ok &= _finish(words, b2, o2, e2, n_out, lut, lut_bits, dst, s2)
    ok &= _finish(words, b3, o3, e3, n_last, lut, lut_bits, dst, s3)
    return ok


@njit(cache=True, nogil=True, inline="always")
def _finish(words, bit, o, end_bit, n_out, lut, lut_bits, dst, d0):
    if o >= n_out:
        return True
    return _decode_one(words, bit, end_bit, n_out - o, lut, lut_bits, dst, d0 + o)


@njit(cache=True, nogil=True)
def _merge_f32(ex, lo, hi, out):
    # slices, so LLVM vectorizes
    for k in range(out.size):
        out[k] = join32(ex[k], lo[k], hi[k])


@njit(cache=True, nogil=True)
def _merge_f32_high(ex, lo, hi, out):
    # the high-byte form: ex = sign and top 7 exponent bits, hi = the next byte, lo = 16 bits
    for k in range(out.size):
        out[k] = ((np.uint32(ex[k]) << np.uint32(24)) | (np.uint32(hi[k]) << np.uint32(16))
                  | np.uint32(lo[k]))


@njit(cache=True, nogil=True)
def _merge_bf16(ex, lo, out):
    for k in range(out.size):
        out[k] = np.uint16(join16(1, np.uint32(ex[k]), np.uint32(lo[k])))


@njit(cache=True, nogil=True)
def _merge_cb(ex, cb, out):
    # cb has 256 entries (padded by the caller): every byte indexes it, no bounds check
    for k in range(out.size):
        out[k] = cb[ex[k]]
    return True


@njit(cache=True, nogil=True)
def _merge_wide(ex, low, cb, out):
    # cb is padded to 256 * (largest high byte + 1) entries: every index formed here is inside
    for k in range(out.size):
        out[k] = cb[(np.uint32(ex[k]) << np.uint32(8)) | np.uint32(low[k])]
    return True


@njit(cache=True, nogil=True)
def _merge(mode, ex, s0, lo, hi, cb, e0, count, out, o0, raw_at, cc, skip):
    """Join exponents ``ex[s0 : s0+count]`` with the raw bytes of weights ``e0 ..`` into
    ``out[o0 ..]``. mode 0: float32, 1: bfloat16, 2: codebook (out = cb[symbol index], ``cb``
    padded to 256 entries), 3: wide codebook (out = cb[symbol << 8 | hi[weight]]), 4 / 5:
    float32 / bfloat16 with zero exponents' raw bytes left out (``raw_at[cc]``: chunk ``cc``'s
    first raw index; ``skip``: weights of the chunk before ``ex[s0]``), 6 / 7: float16's forms
    (:func:`sckit.ras.bytegroup_f16.merge_f16`), 9 / 10: float16's high-byte form with the
    zero skip (10: positive subnormals of high byte 0x00 under their own symbol), 12: float32's
    high-byte form (bfloat16's is 7, as float16's: the symbol is the high byte)."""
    if mode == 4 or mode == 5 or mode == ZERO_SKIP_MODE or mode == ZERO_SKIP_SUB_MODE:
        return merge_zero_skip(mode, ex, s0, skip, lo, hi, np.int64(raw_at[cc]), count,
                                out[o0:o0 + count])
    if mode == 0:
        _merge_f32(ex[s0:s0 + count], lo[e0:e0 + count], hi[e0:e0 + count], out[o0:o0 + count])
    elif mode == 12:
        _merge_f32_high(ex[s0:s0 + count], lo[e0:e0 + count], hi[e0:e0 + count],
                        out[o0:o0 + count])
    elif mode == 1:
        _merge_bf16(ex[s0:s0 + count], lo[e0:e0 + count], out[o0:o0 + count])
    elif mode >= 6:
        return merge_f16(mode, ex[s0:s0 + count], lo[e0:e0 + count], hi, e0, out[o0:o0 + count])
    elif mode == 3:
        return _merge_wide(ex[s0:s0 + count], hi[e0:e0 + count], cb, out[o0:o0 + count])
    else:
        return _merge_cb(ex[s0:s0 + count], cb, out[o0:o0 + count])
    return True


@njit(cache=True, nogil=True)
def decode_range(words, starts, total_bits, chunk, n, pairs, lut, lut_bits, mode, lo, hi, cb,
                 raw_at, e0, e1, out, scratch):
    """Weights ``[e0, e1)`` into ``out[0 : e1-e0]``: the chunks (``chunk`` weights each, the last
    shorter; a pair-coded last chunk decodes one byte past ``n``) overlapping the range are
    decoded four at a time (then one at a time) into ``scratch`` (``4 * (chunk + SLACK)``
    bytes, or ``chunk + 2 * SLACK`` for a one-chunk range), then merged. False when the stream
    is corrupt."""
    stride = chunk + SLACK
    n_chunks = starts.size
    last = n_chunks - 1
    # bytes the last chunk decodes: it may be short (pair codes: + the odd tail's padding)
    last_n = n - last * chunk
    if pairs:
        last_n += last_n & 1
    c = e0 // chunk
    c_end = (e1 - 1) // chunk + 1 if e1 > e0 else c
    if scratch.size < chunk + 2 * SLACK:
        return False
    if e1 - e0 >= PREFETCH_MIN:
        # read the decoding table in order first (one load per cache line): the hardware
        # prefetcher streams it in, where the decode's random lookups would miss line by line
        # when the table is cold (a model's tables are 32 KB each)
        acc = np.uint64(0)
        for i in range(0, lut.shape[0], 8):
            acc ^= lut[i]
        scratch[0] = np.uint8(acc & np.uint64(0xFF))  # keeps the reads; the decode overwrites it
    can_four = scratch.size >= 4 * stride  # the caller's scratch decides (memory safety)
    while c < c_end:
        c4 = c  # first chunk of the four decoded together
        four = can_four and c + 4 <= c_end
        if can_four and not four and c_end - c >= 2 and n_chunks >= 4:
            # two or three chunks left: a four-stream pass over four chunks that end with them
            # (the ones before c decoded again, unused) takes ~1.25 chunk times where one at a
            # time took two or three (6- and 7-chunk tensors: 31 -> 25 and 41 -> 25 us). The
            # streams step together until the shortest ends, then finish one by one: with a
            # short last chunk that is slower, so compare both costs (in quarter chunks)
            c4 = min(c, n_chunks - 4)
            ln = last_n if c4 + 3 == last else chunk
            four = 12 * chunk - 7 * ln < 4 * ((c_end - c - 1) * chunk + ln)
            if not four:
                c4 = c
        if four:
            if not _decode_four(words, starts, total_bits, c4, chunk,
                                last_n if c4 + 3 == last else chunk, lut, lut_bits, scratch,
                                stride):
                return False
            k = 4
        else:
            end_bit = np.int64(starts[c + 1]) if c + 1 < n_chunks else total_bits
            if not _decode_one(words, np.int64(starts[c]), end_bit,
                               last_n if c == last else chunk, lut, lut_bits, scratch, 0):
                return False
            k = 1
        for j in range(k):
            cc = c4 + j
            a = max(e0, cc * chunk)
            b = min(e1, (cc + 1) * chunk)
            if cc >= c and b > a and not _merge(mode, scratch, j * stride + a - cc * chunk, lo, hi,
                                                cb, a, b - a, out, a - e0, raw_at, cc,
                                                a - cc * chunk):
                return False
        c = c4 + k
    return True
