"""Plain canonical Huffman coding of integer symbol streams (the "H" of Deep Compression).

This is a byte-stream coder, not a runtime-accessible structure: the whole stream is decoded
sequentially, as in Han et al., "Deep Compression" (ICLR 2016, section 2.3). Deep
Compression and the SZ-style coder (:mod:`sckit.baselines.sz`) both use it, so that their sizes
are measured on real bytes and their decode times on a real decoder.

Format of :meth:`HuffmanStream.to_bytes` (little endian)::

    u64 n_symbols | u8 table_kind (0 dense, 1 sparse) | u32 n_table | u8 pad_bits
    table: dense  -> n_table code lengths (u8) for symbols 0..n_table-1
           sparse -> n_table symbols (u32) then n_table code lengths (u8)
    payload: ceil(payload_bits / 8) bytes, codes MSB-first

Canonical codes are assigned in (length, symbol) order (Schwartz & Kallick 1964), so the code
lengths alone define the code.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
from numba import njit

from sckit.errors import FormatError

__all__ = [
    "MAX_CODE_BITS",
    "HuffmanStream",
    "huffman_code_lengths",
    "huffman_decode",
    "huffman_encode",
]

# Codes stay below 32 bits so the decoder's code register never overflows and the numpy encoder
# can shift uint64 values freely; real weight streams are far from the limit (a 31-bit code
# needs Fibonacci-like counts over > 2 million symbols).
MAX_CODE_BITS = 31
_HEADER = struct.Struct("<QBIB")


def huffman_code_lengths(counts: np.ndarray) -> np.ndarray:
    """Optimal prefix-code lengths for ``counts`` (zero counts get length 0), at most
    :data:`MAX_CODE_BITS` long.

    The lengths come from :func:`sckit.succinct.huffman.huffman_code_lengths` (Moffat-Katajainen,
    package-merge when the limit binds), the same code builder as the Huffman-shaped wavelet
    matrix; this wrapper only adds what a byte-stream coder needs: zero counts are unused
    symbols, and a lone used symbol still costs one bit.
    """
    from sckit.succinct.huffman import huffman_code_lengths as _lengths

    counts = np.asarray(counts)
    if counts.ndim != 1 or (counts.size and counts.min() < 0):
        raise ValueError("counts must be a 1-D array of non-negative integers")
    lengths = np.zeros(counts.size, dtype=np.uint8)
    used = np.flatnonzero(counts)
    if used.size == 1:
        lengths[used[0]] = 1
    elif used.size > 1:
        lengths[used] = _lengths(counts[used].astype(np.int64), max_length=MAX_CODE_BITS)
    return lengths


def _canonical_codes(lengths: np.ndarray) -> np.ndarray:
    """Canonical code value per symbol (0 for unused symbols)."""
    codes = np.zeros(lengths.size, dtype=np.uint64)
    used = np.flatnonzero(lengths)
    if used.size == 0:
        return codes
    order = used[np.lexsort((used, lengths[used]))]
    code = 0
    prev_len = int(lengths[order[0]])
    for s in order:
        length = int(lengths[s])
        code <<= length - prev_len
        codes[s] = code
        code += 1
        prev_len = length
    return codes


@dataclass(frozen=True)
class HuffmanStream:
    """A Huffman-coded symbol stream: the code lengths (the whole code) and the packed payload."""

    n_symbols: int
    lengths: np.ndarray  # uint8 code length per symbol value 0..len-1 (0 = unused)
    payload: bytes
    payload_bits: int

    def __repr__(self) -> str:
        return f"HuffmanStream(n_symbols={self.n_symbols}, payload_bits={self.payload_bits}, nbytes={self.nbytes})"

    @property
    def bits_per_symbol(self) -> float:
        """Average payload bits per symbol (the figure Deep Compression's tables report)."""
        return self.payload_bits / self.n_symbols if self.n_symbols else 0.0

    def _table(self) -> tuple[int, np.ndarray, np.ndarray | None]:
        used = np.flatnonzero(self.lengths)
        dense_bytes = self.lengths.size
        sparse_bytes = 5 * used.size
        if dense_bytes <= sparse_bytes:
            return 0, self.lengths.astype(np.uint8), None
        return 1, self.lengths[used].astype(np.uint8), used.astype(np.uint32)

    @property
    def nbytes(self) -> int:
        """Exact serialized size in bytes (``len(self.to_bytes())``)."""
        kind, lens, _ = self._table()
        table = lens.size * (5 if kind == 1 else 1)
        return _HEADER.size + table + len(self.payload)

    def to_bytes(self) -> bytes:
        """Serialize (format in the module docstring)."""
        kind, lens, syms = self._table()
        pad = (-self.payload_bits) % 8
        parts = [_HEADER.pack(self.n_symbols, kind, lens.size, pad)]
        if syms is not None:
            parts.append(syms.astype("<u4").tobytes())
        parts.append(lens.tobytes())
        parts.append(self.payload)
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> HuffmanStream:
        """Inverse of :meth:`to_bytes`; malformed input raises :class:`FormatError`."""
        data = bytes(data)
        if len(data) < _HEADER.size:
            raise FormatError(
                f"Huffman stream truncated: {len(data)} bytes < header {_HEADER.size}"
            )
        n_symbols, kind, n_table, pad = _HEADER.unpack_from(data)
        pos = _HEADER.size
        if kind == 0:
            end = pos + n_table
            if end > len(data):
                raise FormatError("Huffman stream truncated inside the code-length table")
            lengths = np.frombuffer(data[pos:end], dtype=np.uint8).copy()
        elif kind == 1:
            end = pos + 5 * n_table
            if end > len(data):
                raise FormatError("Huffman stream truncated inside the sparse code table")
            syms = np.frombuffer(data[pos : pos + 4 * n_table], dtype="<u4").astype(np.int64)
            lens = np.frombuffer(data[pos + 4 * n_table : end], dtype=np.uint8)
            size = int(syms.max()) + 1 if syms.size else 0
            lengths = np.zeros(size, dtype=np.uint8)
            lengths[syms] = lens
        else:
            raise FormatError(f"unknown Huffman table kind {kind}")
        if lengths.size and lengths.max() > MAX_CODE_BITS:
            raise FormatError(f"Huffman code length {lengths.max()} exceeds {MAX_CODE_BITS}")
        payload = data[end:]
        if pad > 7 or (pad and not payload):
            raise FormatError(f"bad Huffman padding {pad}")
        return cls(int(n_symbols), lengths, payload, 8 * len(payload) - pad)


def huffman_encode(symbols: np.ndarray, *, alphabet_size: int | None = None) -> HuffmanStream:
    """Huffman-code a stream of non-negative integer symbols.

    O(n + k log k) time for n symbols over k used values; the packing is vectorized numpy, one
    pass per code-bit position (at most :data:`MAX_CODE_BITS`).
    """
    symbols = np.asarray(symbols)
    if symbols.ndim != 1:
        raise ValueError(f"symbols must be 1-D, got shape {symbols.shape}")
    if symbols.size and not np.issubdtype(symbols.dtype, np.integer):
        raise TypeError(f"symbols must be integers, got dtype {symbols.dtype}")
    if symbols.size and int(symbols.min()) < 0:
        raise ValueError("symbols must be non-negative")
    hi = int(symbols.max()) + 1 if symbols.size else 0
    if alphabet_size is not None and hi > alphabet_size:
        raise ValueError(f"symbol {hi - 1} outside alphabet of size {alphabet_size}")
    sym = symbols.astype(np.int64, copy=False)
    counts = np.bincount(sym, minlength=hi) if sym.size else np.zeros(0, dtype=np.int64)
    lengths = huffman_code_lengths(counts)
    codes = _canonical_codes(lengths)
    lens = lengths[sym].astype(np.int64)
    total = int(lens.sum())
    bits = np.zeros(total, dtype=np.uint8)
    if total:
        starts = np.cumsum(lens) - lens
        vals = codes[sym]
        for j in range(int(lens.max())):
            sel = lens > j
            shift = (lens[sel] - 1 - j).astype(np.uint64)
            bits[starts[sel] + j] = ((vals[sel] >> shift) & np.uint64(1)).astype(np.uint8)
    payload = np.packbits(bits).tobytes()
    return HuffmanStream(int(sym.size), lengths, payload, total)


def huffman_decode(stream: HuffmanStream) -> np.ndarray:
    """Decode to an int64 array of ``stream.n_symbols`` symbols.

    Canonical bit-serial decoding (one comparison per bit, Moffat & Turpin 1997), O(total bits),
    compiled with numba. Corrupt payloads raise :class:`FormatError`.
    """
    n = stream.n_symbols
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    lengths = stream.lengths.astype(np.int64)
    used = np.flatnonzero(lengths)
    if used.size == 0:
        raise FormatError("Huffman stream has symbols but an empty code")
    order = used[np.lexsort((used, lengths[used]))].astype(np.int64)
    max_len = int(lengths.max())
    count = np.bincount(lengths[used], minlength=max_len + 1).astype(np.int64)
    first_code = np.zeros(max_len + 2, dtype=np.int64)
    offset = np.zeros(max_len + 2, dtype=np.int64)
    code = 0
    for length in range(1, max_len + 1):  # count[0] == 0: unused symbols have length 0
        code = (code + count[length - 1]) << 1
        first_code[length] = code
        offset[length] = offset[length - 1] + count[length - 1]
    payload = np.frombuffer(stream.payload, dtype=np.uint8)
    out = np.empty(n, dtype=np.int64)
    status = _decode_kernel(payload, n, first_code, count, offset, order, max_len, out)
    if status != 0:
        raise FormatError("Huffman payload is corrupt or truncated")
    return out


@njit(cache=True)
def _decode_kernel(
    payload, n, first_code, count, offset, order, max_len, out
):  # pragma: no cover - jitted
    n_bits = payload.size * 8
    pos = 0
    for i in range(n):
        code = 0
        length = 0
        while True:
            if pos >= n_bits:
                return 1
            bit = (payload[pos >> 3] >> (7 - (pos & 7))) & 1
            pos += 1
            code = (code << 1) | bit
            length += 1
            if length > max_len:
                return 2
            rel = code - first_code[length]
            if rel < count[length]:
                out[i] = order[offset[length] + rel]
                break
    return 0
