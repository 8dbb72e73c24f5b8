"""How a byte-grouped RAS (:mod:`sckit.ras.bytegroup`) stores its alphabet: the symbols that
occur, before their q values in the ``symbols`` array.

Version 1 lists them, one byte each. Version 2 stores the first and the last and a bit map of
the range between (bit ``i``: symbol ``first + i`` occurs), kept where it is smaller: trained
weights' symbols fill most of a narrow range (float16's exponent and top mantissa bits: ~55 of
~60 values), so a map of 2 + 8 bytes replaces ~55 listed ones. On models of hundreds of small
tensors the table was the largest fixed cost per RAS (PP-OCR's direction classifier in float16:
118 of the ~170 bytes of each of its 18 code tables).
"""

from __future__ import annotations

import numpy as np

from sckit.errors import FormatError

__all__ = ["VERSIONS", "read", "store"]

VERSIONS = (1, 2)  # the byte-grouped meta "version": how the alphabet is stored


def _map_bytes(alpha: np.ndarray) -> int:
    return 2 + -(-(int(alpha[-1]) - int(alpha[0]) + 1) // 8)


def store(alpha: np.ndarray) -> tuple[int, np.ndarray]:
    """(version, stored bytes) of a strictly increasing uint8 alphabet of >= 2 symbols: the
    smaller of the two forms (ties: the list)."""
    if _map_bytes(alpha) >= alpha.size:
        return 1, alpha
    first, last = int(alpha[0]), int(alpha[-1])
    present = np.zeros(last - first + 1, np.uint8)
    present[alpha.astype(np.intp) - first] = 1
    return 2, np.concatenate([np.array([first, last], np.uint8),
                              np.packbits(present, bitorder="little")])


def read(version: int, sq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(alphabet, q values) from a ``symbols`` array (its codebook byte already removed);
    FormatError unless the alphabet is 2 .. 256 strictly increasing symbols, each with one q
    value, and a version-2 map is the one :func:`store` writes (first and last bits set,
    nothing past the last)."""
    if version == 1:
        d = sq.size // 2
        alpha = sq[:d]
        if sq.size % 2 or not 2 <= d <= 256 or np.any(np.diff(alpha.astype(np.int64)) <= 0):
            raise FormatError("RAS (bytegroup): 'symbols' must be 2 .. 256 strictly increasing "
                              "bytes and their q values")
        return alpha, sq[d:]
    if sq.size < 3 or int(sq[1]) <= int(sq[0]):
        raise FormatError("RAS (bytegroup): 'symbols' must start with the first and the last "
                          "symbol (increasing) of the alphabet's bit map")
    first, span = int(sq[0]), int(sq[1]) - int(sq[0]) + 1
    nb = -(-span // 8)
    if sq.size < 2 + nb:
        raise FormatError(f"RAS (bytegroup): 'symbols' holds {sq.size} bytes, its alphabet map "
                          f"alone needs {2 + nb}")
    bits = np.unpackbits(sq[2:2 + nb], bitorder="little")
    if not (bits[0] and bits[span - 1]) or bits[span:].any():
        raise FormatError("RAS (bytegroup): the alphabet map in 'symbols' must have its first "
                          "and last bits set and none past the last")
    alpha = (first + np.flatnonzero(bits)).astype(np.uint8)
    if sq.size != 2 + nb + alpha.size:
        raise FormatError(f"RAS (bytegroup): 'symbols' holds {sq.size} bytes; a map of "
                          f"{alpha.size} symbols and their q values is {2 + nb + alpha.size}")
    return alpha, sq[2 + nb:]
