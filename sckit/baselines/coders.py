"""General-purpose lossless coders on a model's raw weight bytes: zstd, lzma, ZipNN.

Each takes the model's state (parameters and buffers, tied tensors once), concatenates their raw
little-endian bytes in ``state_dict`` order, compresses, and decodes back to a bit-identical
model. ``size_bytes`` is the compressed stream alone (shapes and dtypes come from the
architecture, as for every baseline).

ZipNN-style byte grouping (Hershcovitch et al., "ZipNN: Lossless Compression for AI Models",
2024): the bytes of each floating-point element are split into planes (byte 0 of every element,
then byte 1, ...). For float32 the top plane holds the sign and 7 exponent bits - highly
skewed, since trained weights share few exponents - while the low mantissa planes are nearly
random. Each plane is entropy-coded on its own (zstd or Huffman) and kept raw when coding does not
pay, which is what ZipNN does with incompressible mantissa bytes. This is the stand-in
("zipnn-style (sckit)") for machines without the ``zipnn`` package: :func:`zipnn` runs the real
package (:mod:`sckit.baselines.zipnn_pkg`) whenever it is installed.

:func:`best_fit_lossless` (zstd / lzma / bz2, keep the smallest) is the index-array coder of
DeepSZ.
"""

from __future__ import annotations

import bz2
import lzma
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from sckit.baselines.huffman_coding import HuffmanStream, huffman_decode, huffman_encode
from sckit.baselines.result import (
    BaselineResult,
    check_model,
    dense_bytes,
    n_elements,
    raw_state_bytes,
    rebuild_model,
    state_from_raw,
    state_tensors,
    tensor_to_numpy,
)
from sckit.errors import FormatError

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

__all__ = [
    "best_fit_lossless",
    "best_fit_lossless_decode",
    "general_coders",
    "lzma_coder",
    "zipnn",
    "zipnn_decode_bytes",
    "zipnn_encode_bytes",
    "zstd",
]


def _run(
    model: nn.Module,
    method: str,
    enc: Callable[[bytes], bytes],
    dec: Callable[[bytes], bytes],
    params: dict,
) -> BaselineResult:
    check_model(model)
    state = state_tensors(model)
    t0 = time.perf_counter()
    blob = enc(raw_state_bytes(state))
    encode_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    decoded = state_from_raw(dec(blob), state)
    decode_s = time.perf_counter() - t0
    return BaselineResult(
        method=method,
        size_bytes=len(blob),
        dense_bytes=dense_bytes(state),
        n_weights=n_elements(state),
        encode_s=encode_s,
        decode_s=decode_s,
        lossless=True,
        model=rebuild_model(model, decoded),
        layers=(),
        params=params,
    )


def zstd(model: nn.Module, *, level: int = 3) -> BaselineResult:
    """zstd at ``level`` (1..22; the comparisons use 3 and 19) on the raw weight bytes."""
    import zstandard

    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 22:
        raise ValueError(f"zstd level must be an integer in 1..22, got {level!r}")
    return _run(
        model,
        f"zstd-{level}",
        zstandard.ZstdCompressor(level=level).compress,
        zstandard.ZstdDecompressor().decompress,
        {"level": level},
    )


def lzma_coder(model: nn.Module, *, preset: int = 9) -> BaselineResult:
    """xz/lzma at ``preset`` (0..9) on the raw weight bytes."""
    if isinstance(preset, bool) or not isinstance(preset, int) or not 0 <= preset <= 9:
        raise ValueError(f"lzma preset must be an integer in 0..9, got {preset!r}")
    return _run(
        model,
        "lzma",
        lambda b: lzma.compress(b, preset=preset),
        lzma.decompress,
        {"preset": preset},
    )


# --- ZipNN-style byte grouping ------------------------------------------------------------------

_ZHEAD = struct.Struct("<4sBBQ")  # magic, itemsize, entropy coder, n_elements
_PLANE = struct.Struct("<BI")  # plane mode (0 raw, 1 coded), plane length
_ENTROPY = {"zstd": 0, "huffman": 1}


def zipnn_encode_bytes(
    raw: bytes, itemsize: int, *, entropy: str = "zstd", level: int = 3
) -> bytes:
    """Byte-group ``raw`` (elements of ``itemsize`` bytes) into planes and code each plane."""
    import zstandard

    if entropy not in _ENTROPY:
        raise ValueError(f"entropy must be 'zstd' or 'huffman', got {entropy!r}")
    if itemsize < 1 or len(raw) % itemsize:
        raise ValueError(f"{len(raw)} bytes is not a whole number of {itemsize}-byte elements")
    planes = np.frombuffer(raw, dtype=np.uint8).reshape(-1, itemsize).T
    zc = zstandard.ZstdCompressor(level=level)
    parts = [_ZHEAD.pack(b"ZNN1", itemsize, _ENTROPY[entropy], len(raw) // itemsize)]
    for plane in planes:
        data = np.ascontiguousarray(plane).tobytes()
        coded = (
            zc.compress(data)
            if entropy == "zstd"
            else huffman_encode(plane.astype(np.int64)).to_bytes()
        )
        mode, body = (1, coded) if len(coded) < len(data) else (0, data)
        parts.append(_PLANE.pack(mode, len(body)))
        parts.append(body)
    return b"".join(parts)


def zipnn_decode_bytes(blob: bytes) -> bytes:
    """Inverse of :func:`zipnn_encode_bytes`."""
    import zstandard

    if len(blob) < _ZHEAD.size or blob[:4] != b"ZNN1":
        raise FormatError("not a ZipNN-style blob")
    _, itemsize, entropy, n = _ZHEAD.unpack_from(blob)
    out = np.empty((itemsize, n), dtype=np.uint8)
    pos = _ZHEAD.size
    zd = zstandard.ZstdDecompressor()
    for p in range(itemsize):
        mode, length = _PLANE.unpack_from(blob, pos)
        pos += _PLANE.size
        body = blob[pos : pos + length]
        pos += length
        if mode == 0:
            out[p] = np.frombuffer(body, dtype=np.uint8)
        elif entropy == 0:
            out[p] = np.frombuffer(zd.decompress(body), dtype=np.uint8)
        else:
            out[p] = huffman_decode(HuffmanStream.from_bytes(body)).astype(np.uint8)
    return out.T.tobytes()


def zipnn(model: nn.Module, *, entropy: str = "zstd", level: int = 3, threads: int = 1,
          package: bool | None = None) -> BaselineResult:
    """ZipNN on the model's float tensors: the real ``zipnn`` package when installed, else the
    byte-grouping stand-in above, labelled "zipnn-style (sckit)".

    ``package``: None uses the package when it is installed (``entropy="zstd"``, the package's
    own scheme), True requires it (ImportError when missing), False forces the stand-in.
    ``entropy="huffman"`` is a stand-in variant (Huffman per byte plane). ``threads``: the
    package's threads (1: the single-thread speed the comparisons report).

    Tensors are grouped by dtype (package: float32 / bfloat16 / float16 each one ZipNN stream,
    integer and float64 tensors stored raw; stand-in: by element size), each group one stream
    behind a u32 length. ``method`` is ``"zipnn <version>"`` or ``"zipnn-style (sckit)"``.
    """
    from sckit.baselines import zipnn_pkg

    if entropy not in _ENTROPY:
        raise ValueError(f"entropy must be 'zstd' or 'huffman', got {entropy!r}")
    if package not in (None, True, False):
        raise TypeError(f"package must be None, True or False, got {package!r}")
    if package is True and entropy != "zstd":
        raise ValueError("the zipnn package has its own entropy coder; entropy='huffman' is "
                         "the stand-in's variant (package=False)")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an int >= 1, got {threads!r}")
    check_model(model)
    real = package is not False and entropy == "zstd" and zipnn_pkg.version() is not None
    if package is True and not real:
        raise ImportError("the zipnn package is not installed (pip install zipnn)")
    state = state_tensors(model)
    if real:
        keys = [str(t.dtype).removeprefix("torch.") for t in state.values()]
        keys = [k if k in zipnn_pkg.DTYPES else "raw" for k in keys]
    else:
        keys = [str(t.element_size()) for t in state.values()]
    # groups in first-appearance order; the decoder re-derives them from the state templates
    groups = list(dict.fromkeys(keys))

    def enc_group(g: str, gb: bytes) -> bytes:
        if not real:
            return zipnn_encode_bytes(gb, int(g), entropy=entropy, level=level)
        if g == "raw":
            return gb
        return zipnn_pkg.compress_bytes(gb, g, threads=threads, level=level)

    def dec_group(g: str, body: bytes) -> bytes:
        if not real:
            return zipnn_decode_bytes(body)
        return body if g == "raw" else zipnn_pkg.decompress_bytes(body, g, threads=threads)

    def enc(raw: bytes) -> bytes:
        arrays = [tensor_to_numpy(t) for t in state.values()]
        parts = []
        for g in groups:
            gb = b"".join(a.tobytes() for a, k in zip(arrays, keys, strict=True) if k == g)
            body = enc_group(g, gb)
            parts += [struct.pack("<I", len(body)), body]
        return b"".join(parts)

    def dec(blob: bytes) -> bytes:
        decoded: dict[str, bytes] = {}
        pos = 0
        for g in groups:
            if pos + 4 > len(blob):
                raise FormatError("ZipNN model blob truncated")
            (ln,) = struct.unpack_from("<I", blob, pos)
            decoded[g] = dec_group(g, blob[pos + 4 : pos + 4 + ln])
            pos += 4 + ln
        offs = dict.fromkeys(groups, 0)
        out = []
        for t, k in zip(state.values(), keys, strict=True):
            nb = t.numel() * t.element_size()
            out.append(decoded[k][offs[k] : offs[k] + nb])
            offs[k] += nb
        return b"".join(out)

    if real:
        name = zipnn_pkg.label()
        params = {"implementation": "package", "version": zipnn_pkg.version(),
                  "threads": threads, "level": level}
    else:
        name = "zipnn-style (sckit)" + (", Huffman" if entropy == "huffman" else "")
        params = {"implementation": "stand-in", "entropy": entropy, "level": level,
                  "note": "zipnn package not installed" if zipnn_pkg.version() is None
                  else "stand-in requested"}
    return _run(model, name, enc, dec, params)


# --- best-fit lossless (DeepSZ index arrays) ----------------------------------------------------

_BEST = {0: "zstd", 1: "lzma", 2: "bz2"}


def best_fit_lossless(data: bytes) -> tuple[bytes, str]:
    """Compress with zstd-19, lzma (preset 6) and bz2 and keep the smallest (DeepSZ, seed 001).

    lzma preset 6 rather than 9: on index arrays (kilobytes) both give the same bytes, and 9
    spends ~0.15 s per call allocating its 64 MiB dictionary.

    Returns ``(blob, coder_name)``; the blob's first byte names the coder.
    """
    import zstandard

    cands = {
        0: zstandard.ZstdCompressor(level=19).compress(data),
        1: lzma.compress(data, preset=6),
        2: bz2.compress(data, 9),
    }
    best = min(cands, key=lambda k: len(cands[k]))
    return bytes([best]) + cands[best], _BEST[best]


def best_fit_lossless_decode(blob: bytes) -> bytes:
    """Inverse of :func:`best_fit_lossless`."""
    import zstandard

    if not blob or blob[0] not in _BEST:
        raise FormatError("not a best-fit lossless blob")
    body = blob[1:]
    if blob[0] == 0:
        return zstandard.ZstdDecompressor().decompress(body)
    if blob[0] == 1:
        return lzma.decompress(body)
    return bz2.decompress(body)


def general_coders(model: nn.Module) -> dict[str, BaselineResult]:
    """The general-purpose lossless baselines of the comparison, by name.

    ``{"zstd-3", "zstd-19", "lzma", "zipnn"}`` -> results, each bit-exact on decode.
    """
    return {
        "zstd-3": zstd(model, level=3),
        "zstd-19": zstd(model, level=19),
        "lzma": lzma_coder(model),
        "zipnn": zipnn(model),  # the real package when installed (see its ``method``)
    }
