"""float16 in the byte-grouped layout (:mod:`sckit.ras.bytegroup`): its three forms, how one
is chosen, and their merge kernels.

float16 has a 5-bit exponent, so no byte of it is "the exponent" as in float32 / bfloat16. Three
splits of its 16 bits into a coded symbol and raw planes:

- ``"sign_plane"``: symbol = exponent and the top 2 mantissa bits (whose skew on trained weights
  is worth ~0.05-0.1 bits per weight); raw = the low mantissa byte and a plane of sign bits (8
  per byte). Trained tensors have <= 64 such symbols, so small tensors can take pair codes.
- ``"high_byte"``: symbol = the whole high byte (sign included); raw = the low byte. Smaller
  where signs follow magnitudes (PP-OCRv4 rec's classifier: by 0.07 bits per weight), and the
  form of the zero skip.
- ``"exponent"``: symbol = the exponent alone; raw = the low byte and three bit planes (sign,
  mantissa bits 9 and 8). The faster: its ~2.6-bit symbols table-decode like bfloat16's
  exponents (~4 code words per lookup, against ~2 for the sign plane's ~4.6-bit ones).

The smallest is kept, except that on large tensors the exponent form is taken where it costs
at most ``MAX_COST["exponent"]`` bits per weight more, and the sign plane over the high byte
where it costs at most ``MAX_COST["sign_plane"]`` (see :func:`choose`).

(numba caches a kernel keyed on its own file: after editing this module alone, delete
``sckit/ras/__pycache__/*.nb?`` or ``bytegroup_kernels.decode_range`` keeps the old merge.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from sckit.succinct._bitops import HAS_AVX512BW, load_u64, store_u64

__all__ = ["FAST_MIN_N", "FORMS", "MAX_COST", "MODES", "RAW_BITS", "SUB_SYMBOL", "ZERO_SKIP_FORM",
           "ZERO_SKIP_MODE", "ZERO_SKIP_SUB_MODE", "choose", "fields", "merge_f16", "plane_sizes",
           "symbols"]

FORMS = ("sign_plane", "high_byte", "exponent")
MODES = {"sign_plane": 6, "high_byte": 7, "exponent": 11}  # the kernels' merge modes
# the form whose symbols tell +0.0 and -0.0 apart (high bytes 0x00 / 0x80), so the zero skip
# (sckit.ras.bytegroup_zero_skip) can leave their raw bytes out; its merge mode
ZERO_SKIP_FORM = "high_byte"
ZERO_SKIP_MODE = 9
# ...and where positive subnormals share +0.0's high byte 0x00 (dead channels of a trained
# float32 model, ~1e-40, become +-0.0 in float16 beside a few survivors under 2**-14: PP-OCRv4
# rec's squeeze-excitation convolutions, half zeros), those weights take symbol SUB_SYMBOL (a
# positive NaN's high byte, refused in the tensor), so +0.0 keeps symbol 0 alone; merge mode
# ZERO_SKIP_SUB_MODE maps it back
SUB_SYMBOL = 0x7F
ZERO_SKIP_SUB_MODE = 10
RAW_BITS = {"sign_plane": 9, "high_byte": 8, "exponent": 11}
_SYMBOL = {"sign_plane": (8, 0x7F), "high_byte": (8, 0xFF), "exponent": (10, 0x1F)}
# The exponent form's symbols (~2.6 bits on trained weights, like bfloat16's exponents) give
# ~4 code words per table lookup where the sign-plane form's (~4.6 bits: the top mantissa
# bits are nearly uniform) give ~2; it costs what those bits' skew was worth, ~0.05-0.1 bits
# per weight. The high byte's ~5.6-bit symbols decode slowest (1M N(0, 0.02), G weights/s on
# a Xeon: exponent 2.29, sign plane 1.50, high byte 1.31). On tensors of FAST_MIN_N weights or
# more, where decode time is table decoding (not a fixed cost per tensor, as in small tensors
# and pack groups), the fastest form is kept that costs at most MAX_COST[form] bits per
# weight more than the smallest (Gaussian weights: the high byte smaller by 0.0001)
FAST_MIN_N = 1 << 14
MAX_COST = {"exponent": 0.07, "sign_plane": 0.02}


def symbols(bits: np.ndarray, form: str) -> np.ndarray:
    """The coded symbol of each float16 bit pattern (uint8)."""
    shift, mask = _SYMBOL[form]
    return ((bits >> shift) & mask).astype(np.uint8)


def _plane(bits: np.ndarray, bit: int) -> np.ndarray:
    return np.packbits(((bits >> bit) & 1).astype(np.uint8), bitorder="little")


def fields(bits: np.ndarray, form: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(symbols, low byte plane, second raw plane or None) of flat float16 bit patterns. The
    exponent form's second plane is three bit planes of ``ceil(n / 8)`` bytes each: the signs,
    mantissa bits 9 and mantissa bits 8 (bit j of byte g: weight 8g + j)."""
    lo = (bits & 0xFF).astype(np.uint8)
    if form == "high_byte":
        return symbols(bits, form), lo, None
    if form == "exponent":
        return symbols(bits, form), lo, np.concatenate([_plane(bits, 15), _plane(bits, 9),
                                                        _plane(bits, 8)])
    return symbols(bits, form), lo, _plane(bits, 15)


def plane_sizes(n: int, form: str) -> list[int]:
    """Bytes of each raw plane of an ``n``-weight tensor (all uint8)."""
    return ([n, -(-n // 8)] if form == "sign_plane" else [n, 3 * -(-n // 8)]
            if form == "exponent" else [n])


def choose(cands: dict[str, Any]) -> Any:
    """The form kept among encoded candidates (``form -> ByteGroupRAS``): the smallest (ties:
    the first in ``FORMS``), or on tensors of ``FAST_MIN_N`` weights or more the fastest that
    costs at most ``MAX_COST`` more (exponent, then sign plane)."""
    best = min(cands.values(), key=lambda r: r.nbytes)
    if best.n_weights >= FAST_MIN_N:
        for form in ("exponent", "sign_plane"):  # fastest first
            r = cands.get(form)
            if r is not None and 8 * (r.nbytes - best.nbytes) <= MAX_COST[form] * r.n_weights:
                return r
    return best


@njit(cache=True, nogil=True, inline="always")
def _signs8(s):
    """Bit j of sign byte ``s`` -> 0x80 in byte j of a word (multiply, mask, carry)."""
    x = (np.uint64(s) * np.uint64(0x0101010101010101)) & np.uint64(0x8040201008040201)
    return (x + np.uint64(0x7F7F7F7F7F7F7F7F)) & np.uint64(0x8080808080808080)


@njit(cache=True, nogil=True)
def _join(ex, lo, out):
    for k in range(out.size):
        out[k] = (np.uint16(ex[k]) << np.uint16(8)) | np.uint16(lo[k])


@intrinsic
def _or_planes64(typingctx, ex, o, shift, m80, m02, m01):
    """64 bytes from ``ex[o]``: ``b << shift``, | 0x80 / 0x02 / 0x01 where bit t of ``m80`` /
    ``m02`` / ``m01`` is set (t = the byte's lane): eight plane bytes are a 64-lane mask as
    they are (AVX-512BW: one masked OR each, where the multiply spread of a byte per 8 lanes
    took ~4 operations per plane byte)."""

    def codegen(context, builder, sig, args):
        i8, i32 = ir.IntType(8), ir.IntType(32)
        v64 = ir.VectorType(i8, 64)
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), v64.as_pointer())
        vec = builder.load(ptr, align=1)

        def splat(x):
            v = builder.insert_element(ir.Constant(v64, ir.Undefined), x, ir.Constant(i32, 0))
            return builder.shuffle_vector(v, ir.Constant(v64, ir.Undefined),
                                          ir.Constant(ir.VectorType(i32, 64), [0] * 64))

        vec = builder.shl(vec, splat(builder.trunc(args[2], i8)))
        for mask, bit in ((args[3], 0x80), (args[4], 0x02), (args[5], 0x01)):
            m = builder.bitcast(mask, ir.VectorType(ir.IntType(1), 64))
            vec = builder.or_(vec, builder.select(m, ir.Constant(v64, [bit] * 64),
                                                  ir.Constant(v64, [0] * 64)))
        st = builder.store(vec, ptr)
        st.align = 1
        return context.get_dummy_value()

    return types.void(ex, types.int64, types.int64, types.uint64, types.uint64,
                      types.uint64), codegen


@njit(cache=True, nogil=True, inline="always")
def _bit(hi, i):
    return (hi[i >> 3] >> np.uint8(i & 7)) & np.uint8(1)


@njit(cache=True, nogil=True)
def _add_planes(ex, hi, e0, count, p):
    """Symbols ``ex`` of weights ``e0 ..`` -> high bytes. ``p`` = 0: the sign-plane form (the
    symbol is the high byte's low 7 bits; ``hi`` = the sign plane); ``p`` > 0: the exponent
    form (symbol << 2; ``hi`` = sign, mantissa bit 9 and mantissa bit 8 planes of ``p`` bytes
    each). Head to a whole plane byte, 64 weights per plane word (AVX-512BW) or 8 per plane
    byte (a multiply spreads a byte's bits over a word), tail; bare loops in a function of
    their own (inside merge_f16's dispatch the same merge cost 2x)."""
    shift = np.uint8(2) if p else np.uint8(0)
    h = min(count, (8 - (e0 & 7)) & 7)
    for k in range(h):
        ex[k] = _high(ex[k], hi, e0 + k, p, shift)
    g = (e0 + h) >> 3  # plane byte of weight e0 + h
    kk = h
    if HAS_AVX512BW:
        for _ in range((count - h) >> 6):
            if p:
                _or_planes64(ex, kk, 2, load_u64(hi, g), load_u64(hi, p + g),
                             load_u64(hi, 2 * p + g))
            else:
                _or_planes64(ex, kk, 0, load_u64(hi, g), np.uint64(0), np.uint64(0))
            kk += 64
            g += 8
    for _ in range((count - kk) >> 3):
        w = (load_u64(ex, kk) << np.uint64(shift)) | _signs8(hi[g])
        if p:
            w |= (_signs8(hi[p + g]) >> np.uint64(6)) | (_signs8(hi[2 * p + g]) >> np.uint64(7))
        store_u64(ex, kk, w)
        kk += 8
        g += 1
    for k in range(kk, count):
        ex[k] = _high(ex[k], hi, e0 + k, p, shift)


@njit(cache=True, nogil=True, inline="always")
def _high(e, hi, i, p, shift):
    b = (e << shift) | (_bit(hi, i) << np.uint8(7))
    if p:
        b |= (_bit(hi, p * 8 + i) << np.uint8(1)) | _bit(hi, 2 * p * 8 + i)
    return b


@njit(cache=True, nogil=True)
def merge_f16(mode, ex, lo, hi, e0, out):
    """Join the decoded symbols ``ex`` (scratch, rewritten in place into high bytes) and the raw
    planes of weights ``e0 ..`` into ``out`` (mode 6: sign plane, 7: high byte, 11: exponent);
    ``lo`` starts at weight ``e0``, ``hi`` (the bit planes) is whole. The plane bits go into
    the symbols 64 weights (:func:`_add_planes`) or 8 at a time, then one vectorized pass joins
    the bytes (sign plane 0.055, three planes 0.07 ns per weight on a Xeon; indexing the sign
    byte per weight took 0.36). False when the planes are too short (forged)."""
    count = out.size
    if mode == 6 or mode == 11:
        p = 0 if mode == 6 else hi.size // 3  # bytes per plane (exponent form: three)
        if (e0 + count + 7) >> 3 > (hi.size if mode == 6 else p):
            return False
        _add_planes(ex, hi, e0, count, p)
    _join(ex, lo, out)
    return True
