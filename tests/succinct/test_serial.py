"""The shared binary format: round trips, exact sizes, alignment, and corrupt input -> FormatError."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from sckit.errors import FormatError
from sckit.succinct import _serial
from sckit.succinct.bitvector import BitVector
from sckit.succinct.wavelet_matrix import WaveletMatrix


def sample_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "a": rng.integers(0, 2**63, 7, dtype=np.uint64),
        "b": rng.integers(0, 255, 13).astype(np.uint8),  # odd length: next array must be realigned
        "c": rng.integers(-5, 5, (3, 4)).astype(np.int32),
        "empty": np.zeros(0, np.uint16),
        "f": rng.random(5).astype(np.float32),
    }


def test_round_trip_exact_size_and_alignment() -> None:
    arrays = sample_arrays()
    meta = {"n": 7, "name": "x", "nested": {"k": [1, 2]}}
    raw = _serial.pack("Thing", meta, arrays)
    assert len(raw) == _serial.packed_size("Thing", meta, arrays)
    assert _serial.header_size("Thing", meta, arrays) == len(raw) - sum(a.nbytes for a in arrays.values())
    meta2, arrays2 = _serial.unpack(raw, "Thing")
    assert meta2 == meta
    assert list(arrays2) == list(arrays)
    base = np.frombuffer(raw, np.uint8).ctypes.data
    for name, a in arrays.items():
        b = arrays2[name]
        assert b.dtype == a.dtype and b.shape == a.shape and np.array_equal(b, a)
        assert (b.ctypes.data - base) % 8 == 0 or b.size == 0
    # zero-copy: views into the buffer, not copies
    assert np.shares_memory(arrays2["a"], np.frombuffer(raw, np.uint8))


def test_unpack_accepts_bytearray_memoryview_and_numpy() -> None:
    arrays = sample_arrays()
    raw = _serial.pack("Thing", {}, arrays)
    for buf in (bytearray(raw), memoryview(raw), np.frombuffer(raw, np.uint8)):
        _, got = _serial.unpack(buf, "Thing")
        assert np.array_equal(got["c"], arrays["c"])


def test_corrupt_inputs_raise_format_error() -> None:
    raw = _serial.pack("Thing", {"n": 1}, sample_arrays())
    with pytest.raises(FormatError, match="magic"):
        _serial.unpack(b"XXXX" + raw[4:], "Thing")
    with pytest.raises(FormatError, match="expected a Other"):
        _serial.unpack(raw, "Other")
    with pytest.raises(FormatError, match="version"):
        _serial.unpack(raw[:4] + struct.pack("<H", 99) + raw[6:], "Thing")
    for cut in [0, 3, 10, 23, 30, len(raw) // 2, len(raw) - 1]:
        with pytest.raises(FormatError):
            _serial.unpack(raw[:cut], "Thing")
    for pos in [30, len(raw) - 3]:  # one flipped byte in the header, one in the data
        bad = bytearray(raw)
        bad[pos] ^= 0x40
        with pytest.raises(FormatError, match="checksum"):
            _serial.unpack(bytes(bad), "Thing")
    # an array table pointing outside the data (valid checksums, so only the bounds check catches it)
    bad = _serial.pack("Thing", {}, {"a": np.zeros(400, np.uint64)})
    hlen = struct.unpack_from("<Q", bad, 8)[0]
    data_start = 24 + ((hlen + 7) & ~7)
    with pytest.raises(FormatError, match="outside"):
        _serial.unpack(bad[: data_start + 64], "Thing", verify=False)


def test_check_arrays() -> None:
    arrays = {"w": np.zeros(3, np.uint64)}
    assert _serial.check_arrays("K", arrays, {"w": (np.uint64, 1)})["w"] is arrays["w"]
    with pytest.raises(FormatError, match="missing"):
        _serial.check_arrays("K", arrays, {"v": (np.uint64, 1)})
    with pytest.raises(FormatError, match="expected"):
        _serial.check_arrays("K", arrays, {"w": (np.uint32, 1)})
    with pytest.raises(FormatError, match="expected"):
        _serial.check_arrays("K", arrays, {"w": (np.uint64, 2)})


def test_structures_reject_corrupt_bytes() -> None:
    bv = BitVector(np.arange(300) % 3 == 0)
    wm = WaveletMatrix(np.arange(300) % 11)
    for obj, cls, other in [(bv, BitVector, WaveletMatrix), (wm, WaveletMatrix, BitVector)]:
        raw = obj.to_bytes()
        assert len(raw) == obj.nbytes
        with pytest.raises(FormatError):
            cls.from_bytes(raw[:-8])
        with pytest.raises(FormatError):
            other.from_bytes(raw)  # wrong kind
        bad = bytearray(raw)
        bad[-5] ^= 1
        with pytest.raises(FormatError):
            cls.from_bytes(bytes(bad))


def test_from_arrays_rejects_inconsistent_parts() -> None:
    bv = BitVector(np.arange(5000) % 7 == 0)
    meta, arrays = bv.to_arrays()
    with pytest.raises(FormatError):
        BitVector.from_arrays({"n_bits": 4000}, arrays)
    with pytest.raises(FormatError):
        BitVector.from_arrays({}, arrays)
    with pytest.raises(FormatError):
        BitVector.from_arrays(meta, {**arrays, "rank_dir": arrays["rank_dir"][:-1]})
    with pytest.raises(FormatError):
        BitVector.from_arrays(meta, {**arrays, "sel1": arrays["sel1"] + np.uint32(1000)})
    wm = WaveletMatrix(np.arange(5000) % 300)
    meta, arrays = wm.to_arrays()
    with pytest.raises(FormatError):
        WaveletMatrix.from_arrays({**meta, "sigma": 3}, arrays)
    with pytest.raises(FormatError):
        WaveletMatrix.from_arrays(meta, {**arrays, "bits": arrays["bits"][:, :-1]})
    with pytest.raises(FormatError):
        WaveletMatrix.from_arrays(meta, {**arrays, "zeros": arrays["zeros"] + 10**6})
    with pytest.raises(FormatError):
        WaveletMatrix.from_arrays(meta, {k: v for k, v in arrays.items() if k != "sel"})
