"""The real ZipNN (Hershcovitch et al., "ZipNN: Lossless Compression for AI Models", 2024) from
its PyPI package ``zipnn``, when it is installed.

ZipNN byte-groups float tensors (exponent bytes apart from sign and mantissa bytes), Huffman- or
zstd-codes each group per 256 KiB chunk and keeps incompressible groups raw. It handles float32,
bfloat16 and float16 only; other tensors (integer buffers, float64) are stored raw beside it.

Two quirks this module shields callers from: ZipNN's float32 and bfloat16 compression reorders
the bits of its *input buffer in place*, so every call gets a private copy; and its default is
one thread per core, so the comparisons pin ``threads=1`` (single-thread speeds) unless asked.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from sckit.errors import FormatError

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["DTYPES", "compress_bytes", "decompress_bytes", "decode_tensor", "encode_tensor",
           "label", "version"]

#: torch dtype names ZipNN compresses (the rest of a model is stored raw beside it)
DTYPES = ("float32", "bfloat16", "float16")


@lru_cache(maxsize=1)
def version() -> str | None:
    """The installed ``zipnn`` package's version, or None when it is missing (or broken)."""
    try:
        import zipnn  # noqa: F401
    except Exception:  # noqa: BLE001 - any import failure means "not usable here"
        return None
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("zipnn")
    except PackageNotFoundError:
        return "unknown version"


def label() -> str:
    """How results are labelled: ``"zipnn 0.5.4"`` (the package) or the stand-in's name."""
    v = version()
    return f"zipnn {v}" if v else "zipnn-style (sckit)"


def _coder(dtype: str, threads: int, level: int):
    import zipnn

    if dtype not in DTYPES:
        raise ValueError(f"ZipNN compresses {', '.join(DTYPES)}, not {dtype!r}")
    return zipnn.ZipNN(input_format="byte", bytearray_dtype=dtype, threads=threads,
                       zstd_level=level)


def _check_threads(threads: int) -> None:
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an int >= 1, got {threads!r}")


def compress_bytes(raw: bytes | bytearray | memoryview, dtype: str, *, threads: int = 1,
                   level: int = 3) -> bytes:
    """ZipNN-compress little-endian elements of ``dtype``; ``raw`` is never modified (ZipNN
    reorders its input buffer in place, so it gets a copy)."""
    _check_threads(threads)
    if version() is None:
        raise ImportError("the zipnn package is not installed (pip install zipnn)")
    work = bytearray(raw)  # private copy: ZipNN rewrites the buffer it is given
    return bytes(_coder(dtype, threads, level).compress(work))


def decompress_bytes(blob: bytes | bytearray, dtype: str, *, threads: int = 1) -> bytes:
    """Inverse of :func:`compress_bytes`."""
    _check_threads(threads)
    if version() is None:
        raise ImportError("the zipnn package is not installed (pip install zipnn)")
    try:
        return bytes(_coder(dtype, threads, 3).decompress(bytes(blob)))
    except (ValueError, RuntimeError, IndexError, struct.error) as exc:
        raise FormatError(f"not a ZipNN {dtype} stream ({type(exc).__name__}: {exc})") from None


def _dtype_name(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def encode_tensor(t: torch.Tensor, *, threads: int = 1, level: int = 3) -> bytes:
    """One float32 / bfloat16 / float16 tensor -> ZipNN bytes; ``t`` stays untouched."""
    import torch

    if not isinstance(t, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(t).__name__}")
    name = _dtype_name(t)
    if name not in DTYPES:
        raise ValueError(f"ZipNN compresses {', '.join(DTYPES)}, not {name}")
    a = t.detach().to("cpu").contiguous().view(torch.uint8).numpy()
    return compress_bytes(a.tobytes(), name, threads=threads, level=level)


def decode_tensor(blob: bytes, like: torch.Tensor, *, threads: int = 1) -> torch.Tensor:
    """Inverse of :func:`encode_tensor`: a new CPU tensor with ``like``'s shape and dtype."""
    import torch

    raw = decompress_bytes(blob, _dtype_name(like), threads=threads)
    want = like.numel() * like.element_size()
    if len(raw) != want:
        raise FormatError(f"ZipNN stream holds {len(raw)} bytes, the tensor needs {want}")
    arr = np.frombuffer(bytearray(raw), dtype=np.uint8)
    return torch.from_numpy(arr).view(like.dtype).reshape(like.shape)
