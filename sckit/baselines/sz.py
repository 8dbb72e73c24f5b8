"""An SZ-style error-bounded lossy coder for 1-D float32 arrays (the coder DeepSZ builds on).

Following SZ (Di & Cappello, IPDPS 2016; Tao et al., IPDPS 2017) as DeepSZ (Jin et al., HPDC
2019) summarises it:

1. **Predict** each value from the previously *decoded* value (1-D Lorenzo, ``pred = x'[i-1]``)
   or from zero (``pred = 0``, pure linear quantization: better for weight arrays, whose
   neighbours are nearly uncorrelated); ``predictor="auto"`` codes both and keeps the smaller.
2. **Linear-scaling quantization** of the residual: ``q = round((x - pred) / (2 eb))``,
   ``x' = float32(pred + 2 eb q)``. A value whose ``|q|`` reaches ``radius`` or whose float32
   reconstruction misses the bound (rounding, NaN, inf) is *unpredictable*: code 0, stored
   verbatim. Hence ``|x' - x| <= eb`` for every value, and unpredictable values are bit-exact.
3. **Lossless stage**: canonical Huffman coding of the codes (:mod:`huffman_coding`), then zstd
   over the Huffman bytes and over the verbatim values (SZ 2.x uses Huffman + zstd too).

Encoding and decoding run the same float64 operations in the same order (numba, no fastmath), so
the decoder reproduces the encoder's reconstruction exactly.

Blob format (little endian)::

    b"SZs1" | u8 predictor (0 zero, 1 lorenzo) | f64 eb | u64 n | u32 radius
    | u32 len_codes | u32 len_unpred | zstd(Huffman stream) | zstd(float32 verbatim values)

:func:`sz3_compress` / :func:`sz3_decompress` wrap the maintained SZ3 library (PyPI ``pysz``)
when it is installed; it is an optional backend, not a dependency.
"""

from __future__ import annotations

import math
import struct

import numpy as np
from numba import njit

from sckit.baselines.huffman_coding import HuffmanStream, huffman_decode, huffman_encode
from sckit.errors import FormatError

__all__ = ["sz3_available", "sz3_compress", "sz3_decompress", "sz_compress", "sz_decompress"]

_MAGIC = b"SZs1"
_HEAD = struct.Struct("<4sBdQIII")
_PREDICTORS = {"zero": 0, "lorenzo": 1}
DEFAULT_RADIUS = 1 << 15  # SZ's default quantization interval count is 65536 = 2 * radius


def _check_eb(eb: float) -> float:
    if (
        isinstance(eb, bool)
        or not isinstance(eb, int | float | np.floating)
        or not math.isfinite(eb)
        or eb <= 0
    ):
        raise ValueError(f"error bound must be a finite number > 0, got {eb!r}")
    return float(eb)


@njit(cache=True)
def _sz_encode_kernel(x, eb, coeff, radius, codes, unpred):  # pragma: no cover - jitted
    two_eb = 2.0 * eb
    prev = 0.0
    n_unpred = 0
    for i in range(x.size):
        xi = np.float64(x[i])
        pred = coeff * prev
        ok = False
        if np.isfinite(xi):
            q = np.rint((xi - pred) / two_eb)
            if abs(q) < radius:
                rec = np.float32(pred + two_eb * q)
                if abs(np.float64(rec) - xi) <= eb:
                    codes[i] = np.int64(q) + radius
                    prev = np.float64(rec)
                    ok = True
        if not ok:
            codes[i] = 0
            unpred[n_unpred] = x[i]
            n_unpred += 1
            prev = xi if np.isfinite(xi) else 0.0
    return n_unpred


@njit(cache=True)
def _sz_decode_kernel(codes, unpred, eb, coeff, radius, out):  # pragma: no cover - jitted
    two_eb = 2.0 * eb
    prev = 0.0
    j = 0
    for i in range(codes.size):
        c = codes[i]
        pred = coeff * prev
        if c == 0:
            if j >= unpred.size:
                return 1
            out[i] = unpred[j]
            xi = np.float64(unpred[j])
            prev = xi if np.isfinite(xi) else 0.0
            j += 1
        else:
            rec = np.float32(pred + two_eb * np.float64(c - radius))
            out[i] = rec
            prev = np.float64(rec)
    return 0 if j == unpred.size else 2


def _encode_once(x: np.ndarray, eb: float, predictor: int, radius: int) -> bytes:
    import zstandard

    codes = np.empty(x.size, dtype=np.int64)
    unpred = np.empty(x.size, dtype=np.float32)
    n_unpred = _sz_encode_kernel(x, eb, float(predictor), radius, codes, unpred)
    huff = huffman_encode(codes).to_bytes()
    zc = zstandard.ZstdCompressor(level=19)
    c_codes = zc.compress(huff)
    c_unpred = zc.compress(unpred[:n_unpred].tobytes()) if n_unpred else b""
    head = _HEAD.pack(_MAGIC, predictor, eb, x.size, radius, len(c_codes), len(c_unpred))
    return head + c_codes + c_unpred


def sz_compress(
    values: np.ndarray, eb: float, *, predictor: str = "auto", radius: int = DEFAULT_RADIUS
) -> bytes:
    """Compress a 1-D float32 array with absolute error bound ``eb`` (``|x' - x| <= eb``).

    O(n) per predictor tried. ``predictor``: ``"lorenzo"``, ``"zero"`` or ``"auto"`` (both,
    keep the smaller blob: SZ's "best-fit" prediction at array granularity).
    """
    eb = _check_eb(eb)
    x = np.asarray(values)
    if x.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {x.shape}")
    if x.dtype != np.float32:
        raise TypeError(f"values must be float32, got {x.dtype}")
    if predictor not in (*_PREDICTORS, "auto"):
        raise ValueError(f"predictor must be 'zero', 'lorenzo' or 'auto', got {predictor!r}")
    if not isinstance(radius, int) or not 2 <= radius <= 1 << 30:
        raise ValueError(f"radius must be an integer in [2, 2**30], got {radius!r}")
    x = np.ascontiguousarray(x)
    names = list(_PREDICTORS) if predictor == "auto" else [predictor]
    blobs = [_encode_once(x, eb, _PREDICTORS[p], radius) for p in names]
    return min(blobs, key=len)


def sz_decompress(blob: bytes) -> np.ndarray:
    """Decode a :func:`sz_compress` blob to float32; O(n). Malformed input -> FormatError."""
    import zstandard

    blob = bytes(blob)
    if len(blob) < _HEAD.size or blob[:4] != _MAGIC:
        raise FormatError("not an sckit SZ blob (bad magic or truncated header)")
    _, predictor, eb, n, radius, lc, lu = _HEAD.unpack_from(blob)
    if predictor not in (0, 1) or _HEAD.size + lc + lu != len(blob):
        raise FormatError("corrupt SZ blob header")
    zd = zstandard.ZstdDecompressor()
    try:
        huff = zd.decompress(blob[_HEAD.size : _HEAD.size + lc])
        unpred_bytes = zd.decompress(blob[_HEAD.size + lc :]) if lu else b""
    except zstandard.ZstdError as exc:
        raise FormatError(f"corrupt SZ payload: {exc}") from exc
    codes = huffman_decode(HuffmanStream.from_bytes(huff))
    if codes.size != n:
        raise FormatError(f"SZ blob holds {codes.size} codes, header says {n}")
    unpred = np.frombuffer(unpred_bytes, dtype=np.float32)
    out = np.empty(n, dtype=np.float32)
    if _sz_decode_kernel(codes, unpred, eb, float(predictor), radius, out) != 0:
        raise FormatError("SZ blob: verbatim values do not match the codes")
    return out


def sz3_available() -> bool:
    """Whether the optional SZ3 binding (PyPI ``pysz``) imports."""
    try:
        import pysz  # noqa: F401
    except ImportError:
        return False
    return True


def sz3_compress(values: np.ndarray, eb: float) -> bytes:
    """Compress a 1-D float32 array with SZ3 (``pysz``), absolute error bound ``eb``."""
    eb = _check_eb(eb)
    try:
        from pysz import sz, szConfig, szErrorBoundMode
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "sz_backend='sz3' needs the optional package pysz (pip install pysz)"
        ) from exc
    x = np.ascontiguousarray(values, dtype=np.float32)
    cfg = szConfig()
    cfg.errorBoundMode = szErrorBoundMode.ABS
    cfg.absErrorBound = eb
    compressed, _ = sz.compress(x, cfg)
    return struct.pack("<Q", x.size) + np.asarray(compressed, dtype=np.uint8).tobytes()


def sz3_decompress(blob: bytes) -> np.ndarray:
    """Inverse of :func:`sz3_compress`."""
    from pysz import sz

    (n,) = struct.unpack_from("<Q", blob)
    data, _ = sz.decompress(np.frombuffer(blob[8:], dtype=np.uint8), np.float32, (n,))
    return np.asarray(data, dtype=np.float32).reshape(-1)
