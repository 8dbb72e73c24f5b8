"""numba kernels for packed bit vectors: word primitives, rank/select directories, queries.

Layout (shared by :class:`~sckit.succinct.bitvector.BitVector`, the wavelet matrices and anyone
who calls these kernels directly):

``words`` : ``uint64[ceil(n / 64)]``
    Bits LSB-first: bit ``i`` is ``(words[i >> 6] >> (i & 63)) & 1``. Bits past ``n`` in the
    last word are zero (the kernels rely on it).
``rdir`` : ``uint64[ceil(n / 2048) + 1]`` -- the rank directory, one entry per 2048-bit *block*
    (32 words) plus a sentinel. Entry ``j`` packs the number of ones before block ``j`` in bits
    0..33 (so ``n < 2**34``) and the popcounts of the block's first three 512-bit *sub-blocks*
    in bits 34..43, 44..53 and 54..63. The sentinel's low 34 bits are the total number of ones.
    This is the interleaved two-level layout of Zhou, Andersen and Kaminsky, "Space-efficient,
    high-performance rank and select structures on uncompressed bit sequences" (SEA 2013,
    "poppy"): 64 bits per 2048 bits = 3.125% overhead; ``rank1`` reads one entry, adds up to
    three sub-block counts and popcounts (branch-free, under masks) 7 word slots plus one
    partial word.
``s1`` / ``s0`` : ``uint32[ceil(n_ones / 4096) + 1]`` (resp. zeros) -- sampled select: entry
    ``t`` is the block holding the ``(t * 4096)``-th one (zero); the last entry is the last block.
    ``select`` binary-searches ``rdir`` between two consecutive samples, then the sub-blocks,
    words and finally the bits of one word (``pdep`` + ``tzcnt``, Pandey et al. 2017).
    Overhead 32 bits per 4096 ones or zeros = 0.78% (Navarro, *Compact Data Structures*, 4.3.3).

njit helpers others may call (all ``cache=True``; ``i``/``k`` are int64; callers validate
arguments, but ``rank1`` and ``select*`` clamp their array indices, so a damaged structure gives
wrong answers rather than reads outside the arrays; arrays may be read-only -- the structures keep theirs read-only so each
kernel is compiled once):

- ``popcount(x)``, ``tzcnt(x)``, ``pdep(x, mask)`` (BMI2 when the CPU has it), ``select_in_word(w, k)``
- ``masked_store(out_bytes, o, mask, val, width)`` (AVX-512BW masked store when available)
- ``load_u64(bytes, i)`` / ``store_u64(bytes, i, v)``: unaligned 64-bit load / store at byte ``i``
- ``get_bits(words, pos, cnt)``: ``cnt`` (0..64) bits starting at bit ``pos``, LSB-first
- ``access(words, i)``, ``rank1(words, rdir, i)``, ``rank0(words, rdir, i)``
- ``select1(words, rdir, s1, n_bits, k)``, ``select0(words, rdir, s0, n_bits, k)``
- ``build_rank_dir(words, n_bits)``, ``build_select_samples(words, rdir, n_bits, ones)``
- ``pack_bits(bits_uint8)`` and the ``*_many`` loops used by ``BitVector``.
"""

from __future__ import annotations

import llvmlite.binding as _llvm
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

BLOCK_SHIFT = 11  # 2048-bit blocks (32 words) per rank-directory entry
SUB_SHIFT = 9  # 512-bit sub-blocks (8 words)
ABS_BITS = 34  # absolute count width: n < 2**34 bits
ABS_MASK = (1 << ABS_BITS) - 1
SAMPLE_SHIFT = 12  # one select sample per 4096 ones (zeros)
MAX_BITS = 1 << ABS_BITS

HAS_BMI2 = bool(_llvm.get_host_cpu_features().get("bmi2", False))


@intrinsic
def load_u64(typingctx, arr, idx):
    """Unaligned little-endian 64-bit load from byte ``idx`` of a uint8 array (no bounds check:
    callers keep 8 bytes of padding)."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.uint8):
        return None
    sig = types.uint64(arr, types.int64)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), ir.IntType(64).as_pointer())
        ld = builder.load(ptr)
        ld.align = 1
        return ld

    return sig, codegen


@intrinsic
def store_u64(typingctx, arr, idx, val):
    """Unaligned 64-bit store at byte ``idx`` of a uint8 array: one store in place of eight."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.uint8):
        return None
    sig = types.void(arr, types.int64, types.uint64)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), ir.IntType(64).as_pointer())
        st = builder.store(args[2], ptr)
        st.align = 1
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _popcount_intr(typingctx, x):
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


@intrinsic
def _tzcnt_intr(typingctx, x):
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 0))

    return sig, codegen


@intrinsic
def _pdep_intr(typingctx, x, mask):
    sig = types.uint64(types.uint64, types.uint64)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        fnty = ir.FunctionType(i64, [i64, i64])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.bmi.pdep.64")
        return builder.call(fn, [args[0], args[1]])

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def popcount(x):
    """Number of set bits of a uint64 (one ``popcnt``)."""
    return _popcount_intr(np.uint64(x))


@njit(cache=True, nogil=True, inline="always")
def tzcnt(x):
    """Trailing zeros of a uint64 (64 for zero)."""
    return _tzcnt_intr(np.uint64(x))


@njit(cache=True, nogil=True, inline="always")
def _pdep_soft(x, mask):
    # Portable fallback for CPUs without BMI2: deposit the low bits of x at the set bits of mask.
    res = np.uint64(0)
    bit = np.uint64(1)
    m = np.uint64(mask)
    x = np.uint64(x)
    while m:
        low = m & (~m + np.uint64(1))
        if x & bit:
            res |= low
        m &= m - np.uint64(1)
        bit <<= np.uint64(1)
    return res


@njit(cache=True, nogil=True, inline="always")
def _pdep_hw(x, mask):
    return _pdep_intr(np.uint64(x), np.uint64(mask))


# Chosen once at import; numba's cache key includes the host CPU features, so a cached BMI2
# build is never loaded on a CPU without BMI2.
pdep = _pdep_hw if HAS_BMI2 else _pdep_soft


HAS_AVX512BW = bool(_llvm.get_host_cpu_features().get("avx512bw", False))


def _make_masked_store(bits):
    # `llvm.masked.store` of 64 lanes of `bits`-bit integers: element o + t of the byte array
    # `arr` (viewed as `bits`-bit elements) = val for every set bit t of mask. AVX-512BW makes
    # this 1-8 masked vector stores; masked-off lanes are never touched (nor faulted on).
    @intrinsic
    def store(typingctx, arr, o, mask, val):
        def codegen(context, builder, sig, args):
            ary = context.make_array(sig.args[0])(context, builder, args[0])
            elt = ir.IntType(bits)
            vecty = ir.VectorType(elt, 64)
            off = builder.mul(args[1], ir.Constant(ir.IntType(64), bits // 8))
            ptr = builder.bitcast(builder.gep(ary.data, [off]), vecty.as_pointer())
            m = builder.bitcast(args[2], ir.VectorType(ir.IntType(1), 64))
            v = builder.trunc(args[3], elt) if bits < 64 else args[3]
            vec = builder.insert_element(ir.Constant(vecty, ir.Undefined), v, ir.Constant(ir.IntType(32), 0))
            vec = builder.shuffle_vector(
                vec, ir.Constant(vecty, ir.Undefined), ir.Constant(ir.VectorType(ir.IntType(32), 64), [0] * 64)
            )
            fnty = ir.FunctionType(ir.VoidType(), [vecty, ptr.type, ir.IntType(32), m.type])
            fn = cgutils.get_or_insert_function(builder.module, fnty, f"llvm.masked.store.v64i{bits}.p0")
            builder.call(fn, [vec, ptr, ir.Constant(ir.IntType(32), 1), m])
            return context.get_dummy_value()

        return types.void(arr, types.int64, types.uint64, types.int64), codegen

    return store


_mstore8, _mstore16, _mstore32, _mstore64 = (_make_masked_store(b) for b in (8, 16, 32, 64))


@njit(cache=True, nogil=True, inline="always")
def _masked_store_hw(out, o, mask, val, width):
    if width == 1:
        _mstore8(out, o, mask, val)
    elif width == 2:
        _mstore16(out, o, mask, val)
    elif width == 4:
        _mstore32(out, o, mask, val)
    else:
        _mstore64(out, o, mask, val)


@njit(cache=True, nogil=True, inline="always")
def _masked_store_soft(out, o, mask, val, width):
    m = np.uint64(mask)
    while m:
        q = (o + np.int64(tzcnt(m))) * width
        for b in range(width):
            out[q + b] = (val >> (8 * b)) & 0xFF
        m &= m - np.uint64(1)


# masked_store(out, o, mask, val, width): out is a little-endian byte view of an integer array
# with `width` (1, 2, 4 or 8) bytes per element; element o + t = val for each set bit t of mask.
masked_store = _masked_store_hw if HAS_AVX512BW else _masked_store_soft


@njit(cache=True, nogil=True)
def select_in_word(w, k):
    """Position of the ``k``-th (0-based) set bit of ``w``; ``k < popcount(w)`` (pdep + tzcnt)."""
    return np.int64(tzcnt(pdep(np.uint64(1) << np.uint64(k), w)))


@njit(cache=True, nogil=True)
def get_bits(words, pos, cnt):
    """``cnt`` bits (0 <= cnt <= 64) starting at bit ``pos``, LSB-first; reads past the last
    word only when those bits are requested."""
    if cnt == 0:
        return np.uint64(0)
    wi = pos >> 6
    off = pos & 63
    w = words[wi] >> np.uint64(off)
    if off + cnt > 64:
        w |= words[wi + 1] << np.uint64(64 - off)
    if cnt < 64:
        w &= (np.uint64(1) << np.uint64(cnt)) - np.uint64(1)
    return w


@njit(cache=True, nogil=True)
def access(words, i):
    """Bit ``i``. O(1)."""
    return np.int64((words[i >> 6] >> np.uint64(i & 63)) & np.uint64(1))


@njit(cache=True, nogil=True, inline="always")
def rank1(words, rdir, i):
    """Ones in ``[0, i)``, ``0 <= i <= n``. O(1): one directory entry + 8 popcounts.

    Branch-free: random queries made the sub-block tests and the 0..7-word loop mispredict
    (~3 per query); now all 7 whole-word slots are popcounted under a mask.
    """
    if i <= 0 or words.shape[0] == 0:
        return np.int64(0)
    # unsigned indices: spares numba's negative-index wraparound code on each of the 9 loads;
    # the directory index is clamped (one cmov) so a position past the end never reads outside
    # the arrays, whatever a damaged structure asks for
    iu = np.uint64(i)
    e = rdir[min(iu >> np.uint64(BLOCK_SHIFT), np.uint64(rdir.shape[0] - 1))]
    sb = (i >> SUB_SHIFT) & 3
    r = np.int64(e & np.uint64(ABS_MASK))
    r += np.int64((e >> np.uint64(34)) & np.uint64(1023)) * (sb > 0)
    r += np.int64((e >> np.uint64(44)) & np.uint64(1023)) * (sb > 1)
    r += np.int64((e >> np.uint64(54)) & np.uint64(1023)) * (sb > 2)
    first = (iu >> np.uint64(SUB_SHIFT)) << np.uint64(3)
    wi = iu >> np.uint64(6)
    nw1 = np.uint64(words.shape[0] - 1)
    for t in range(7):
        k = first + np.uint64(t)
        mk = np.uint64(0) - np.uint64(k < wi)
        r += np.int64(popcount(words[min(k, nw1)] & mk))
    mk = (np.uint64(1) << (iu & np.uint64(63))) - np.uint64(1)
    r += np.int64(popcount(words[min(wi, nw1)] & mk))
    return r


@njit(cache=True, nogil=True)
def rank0(words, rdir, i):
    """Zeros in ``[0, i)``. O(1)."""
    return i - rank1(words, rdir, i)


@njit(cache=True, nogil=True, inline="always")
def block_entry(words, b, total):
    """Block ``b``'s directory entry given the ``total`` ones before it, and the total after it
    (shared by :func:`build_rank_dir` and ``_validate.rank_dir_mismatch``)."""
    nw = words.shape[0]
    e = total
    base = b << 5
    for s in range(4):
        c = np.uint64(0)
        for w in range(base + (s << 3), min(base + (s << 3) + 8, nw)):
            c += popcount(words[w])
        if s < 3:
            e |= c << np.uint64(34 + 10 * s)
        total += c
    return e, total


@njit(cache=True, nogil=True)
def build_rank_dir(words, n_bits):
    """The poppy-style rank directory of ``words`` (see module docstring). O(n / 64)."""
    nb = (n_bits + 2047) >> BLOCK_SHIFT
    rdir = np.zeros(nb + 1, dtype=np.uint64)
    total = np.uint64(0)
    for b in range(nb):
        rdir[b], total = block_entry(words, b, total)
    rdir[nb] = total
    return rdir


@njit(cache=True, nogil=True)
def build_select_samples(words, rdir, n_bits, ones):
    """Sampled select: the block holding every 4096-th one (``ones``) or zero, plus the last
    block as a sentinel. O(n / 2048)."""
    nb = rdir.shape[0] - 1
    total1 = np.int64(rdir[nb] & np.uint64(ABS_MASK))
    total = total1 if ones else n_bits - total1
    ns = ((total + 4095) >> SAMPLE_SHIFT) + 1
    out = np.zeros(ns, dtype=np.uint32)
    t = 0
    for b in range(nb):
        # count (ones or zeros) before block b+1
        a1 = np.int64(rdir[b + 1] & np.uint64(ABS_MASK))
        end = a1 if ones else min((b + 1) << BLOCK_SHIFT, n_bits) - a1
        while t < ns - 1 and (t << SAMPLE_SHIFT) < end:
            out[t] = b
            t += 1
    out[ns - 1] = max(nb - 1, 0)
    return out


@njit(cache=True, nogil=True)
def _before(rdir, b, ones):
    # ones (or zeros) before block b
    a = np.int64(rdir[b] & np.uint64(ABS_MASK))
    return a if ones else (b << BLOCK_SHIFT) - a


@njit(cache=True, nogil=True)
def _select(words, rdir, samples, n_bits, k, ones):
    # 1) sampled block range, 2) binary search on the directory, 3) sub-blocks, 4) words, 5) bits
    # Every index is clamped and the word loop bounded: a damaged directory or sample (which
    # validation on load refuses) gives a wrong position in [0, n_bits), never a read outside
    # the arrays or an endless loop.
    nw = words.shape[0]
    last_b = rdir.shape[0] - 2
    if nw == 0 or last_b < 0 or samples.shape[0] == 0:
        return np.int64(0)
    t = min(max(k, 0) >> SAMPLE_SHIFT, samples.shape[0] - 1)
    lo = min(np.int64(samples[t]), last_b)
    hi = min(np.int64(samples[t + 1]), last_b) if t + 1 < samples.shape[0] else last_b
    while lo < hi:  # last block b in [lo, hi] with before(b) <= k
        mid = (lo + hi + 1) >> 1
        if _before(rdir, mid, ones) <= k:
            lo = mid
        else:
            hi = mid - 1
    b = lo
    e = rdir[b]
    r = max(k - _before(rdir, b, ones), 0)
    w = b << 5
    for s in range(3):
        c = np.int64((e >> np.uint64(34 + 10 * s)) & np.uint64(1023))
        if not ones:
            c = 512 - c
        if r < c:
            break
        r -= c
        w += 8
    while w < nw:
        x = words[w] if ones else ~words[w]
        c = np.int64(popcount(x))
        if r < c:
            return min((w << 6) + select_in_word(x, r), max(n_bits - 1, 0))
        r -= c
        w += 1
    return max(n_bits - 1, 0)


@njit(cache=True, nogil=True)
def select1(words, rdir, s1, n_bits, k):
    """Position of the ``k``-th one (``0 <= k < n_ones``). O(1) expected for non-adversarial
    inputs (sampled select), O(log n) worst case."""
    return _select(words, rdir, s1, n_bits, k, True)


@njit(cache=True, nogil=True)
def select0(words, rdir, s0, n_bits, k):
    """Position of the ``k``-th zero (``0 <= k < n_zeros``)."""
    return _select(words, rdir, s0, n_bits, k, False)


@njit(cache=True, nogil=True)
def pack_bits(bits):
    """Pack a uint8 0/1 array LSB-first into uint64 words."""
    n = bits.shape[0]
    nw = (n + 63) >> 6
    out = np.zeros(nw, dtype=np.uint64)
    for w in range(nw):
        acc = np.uint64(0)
        base = w << 6
        for j in range(min(64, n - base)):
            acc |= np.uint64(bits[base + j] & 1) << np.uint64(j)
        out[w] = acc
    return out


@njit(cache=True, nogil=True)
def access_many(words, idx, out):
    for j in range(idx.shape[0]):
        out[j] = access(words, idx[j])


@njit(cache=True, nogil=True)
def rank1_many(words, rdir, idx, out):
    for j in range(idx.shape[0]):
        out[j] = rank1(words, rdir, idx[j])


@njit(cache=True, nogil=True)
def select_many(words, rdir, samples, n_bits, ks, ones, out):
    for j in range(ks.shape[0]):
        out[j] = _select(words, rdir, samples, n_bits, ks[j], ones)
