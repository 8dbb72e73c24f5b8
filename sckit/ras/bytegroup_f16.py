"""float16 in the byte-grouped layout (:mod:`sckit.ras.bytegroup`): its two forms, how one is
chosen, and their merge kernels.

float16 has a 5-bit exponent, so no byte of it is "the exponent" as in float32 / bfloat16. Two
splits of its 16 bits into a coded symbol and raw planes, each the smaller somewhere:

- ``"sign_plane"``: symbol = exponent and the top 2 mantissa bits (whose skew on trained weights
  is worth ~0.05-0.1 bits per weight); raw = the low mantissa byte and a plane of sign bits (8
  per byte). Trained tensors have <= 64 such symbols, so small tensors can take pair codes.
- ``"high_byte"``: symbol = the whole high byte (sign included); raw = the low byte. Smaller
  where signs follow magnitudes (PP-OCRv4 rec's classifier: by 0.07 bits per weight).

Both decode at ~2-2.3 G weights per second on one core here (N(0, 0.02), 1M weights): the
sign plane's shorter symbols (~4.6 against ~5.6 bits: more code words per table lookup) pay for
its merge. Tried and left out: the exponent alone as the symbol (sign and top mantissa bits
raw), ~2.6-bit symbols that table-decode like bfloat16's exponents (4.0 G weights per second),
2.8 with the merge of its three raw fields, for 0.7% more bits.

(numba caches a kernel keyed on its own file: after editing this module alone, delete
``sckit/ras/__pycache__/*.nb?`` or ``bytegroup_kernels.decode_range`` keeps the old merge.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from sckit.succinct._bitops import load_u64, store_u64

__all__ = ["FORMS", "MODES", "RAW_BITS", "SUB_SYMBOL", "ZERO_SKIP_FORM", "ZERO_SKIP_MODE",
           "ZERO_SKIP_SUB_MODE", "choose", "fields", "merge_f16", "plane_sizes", "symbols"]

FORMS = ("sign_plane", "high_byte")
MODES = {"sign_plane": 6, "high_byte": 7}  # the kernels' merge modes
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
RAW_BITS = {"sign_plane": 9, "high_byte": 8}
_SYMBOL = {"sign_plane": (8, 0x7F), "high_byte": (8, 0xFF)}


def symbols(bits: np.ndarray, form: str) -> np.ndarray:
    """The coded symbol of each float16 bit pattern (uint8)."""
    shift, mask = _SYMBOL[form]
    return ((bits >> shift) & mask).astype(np.uint8)


def fields(bits: np.ndarray, form: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(symbols, low byte plane, second raw plane or None) of flat float16 bit patterns."""
    lo = (bits & 0xFF).astype(np.uint8)
    if form == "high_byte":
        return symbols(bits, form), lo, None
    return symbols(bits, form), lo, np.packbits(((bits >> 15) & 1).astype(np.uint8),
                                                bitorder="little")


def plane_sizes(n: int, form: str) -> list[int]:
    """Bytes of each raw plane of an ``n``-weight tensor (all uint8)."""
    return [n, -(-n // 8)] if form == "sign_plane" else [n]


def choose(cands: dict[str, Any]) -> Any:
    """The form kept among encoded candidates (``form -> ByteGroupRAS``): the smallest (ties:
    the sign plane, whose table decoding is the faster)."""
    return min(cands.values(), key=lambda r: r.nbytes)


@njit(cache=True, nogil=True, inline="always")
def _signs8(s):
    """Bit j of sign byte ``s`` -> 0x80 in byte j of a word (multiply, mask, carry)."""
    x = (np.uint64(s) * np.uint64(0x0101010101010101)) & np.uint64(0x8040201008040201)
    return (x + np.uint64(0x7F7F7F7F7F7F7F7F)) & np.uint64(0x8080808080808080)


@njit(cache=True, nogil=True)
def _join(ex, lo, out):
    for k in range(out.size):
        out[k] = (np.uint16(ex[k]) << np.uint16(8)) | np.uint16(lo[k])


@njit(cache=True, nogil=True)
def _add_signs(ex, hi, e0, count):
    # head (to a whole sign byte), whole bytes as words, tail: bare loops in a function of
    # their own (inside merge_f16's head / tail / dispatch code the same merge cost 2x)
    h = min(count, (8 - (e0 & 7)) & 7)
    for k in range(h):
        i = e0 + k
        ex[k] |= ((hi[i >> 3] >> np.uint8(i & 7)) & np.uint8(1)) << np.uint8(7)
    g0 = (e0 + h) >> 3
    nb = (count - h) >> 3
    for b in range(nb):
        kk = h + 8 * b
        store_u64(ex, kk, load_u64(ex, kk) | _signs8(hi[g0 + b]))
    for k in range(h + 8 * nb, count):
        i = e0 + k
        ex[k] |= ((hi[i >> 3] >> np.uint8(i & 7)) & np.uint8(1)) << np.uint8(7)


@njit(cache=True, nogil=True)
def merge_f16(mode, ex, lo, hi, e0, out):
    """Join the decoded symbols ``ex`` (scratch, rewritten in place into high bytes) and the raw
    planes of weights ``e0 ..`` into ``out``; ``lo`` starts at weight ``e0``, ``hi`` (the sign
    plane) is whole. The signs go into the symbols a plane byte (8 weights) at a time, spread
    over a word by a multiply, then one vectorized pass joins the bytes (0.035 ns per weight
    in the decoder; indexing the sign byte per weight took 0.36). False when the sign plane
    is too short (a forged plane)."""
    count = out.size
    if mode == 6:
        if (e0 + count + 7) >> 3 > hi.size:
            return False
        _add_signs(ex, hi, e0, count)
    _join(ex, lo, out)
    return True
