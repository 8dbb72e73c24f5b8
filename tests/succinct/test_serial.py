"""The shared binary format: round trips, exact sizes, alignment, and corrupt input -> FormatError."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from sckit.errors import FormatError
from sckit.succinct import _serial
from sckit.succinct.bitvector import BitVector
from sckit.succinct.huffman_wm import HuffmanWaveletMatrix
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
        # natural alignment (what numpy/numba need), no padding between arrays
        assert (b.ctypes.data - base) % min(a.dtype.itemsize, 8) == 0 or b.size == 0
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
        _serial.unpack(b"XX" + raw[2:], "Thing")
    with pytest.raises(FormatError, match="expected a Other"):
        _serial.unpack(raw, "Other")
    with pytest.raises(FormatError, match="version"):
        _serial.unpack(raw[:2] + bytes([99]) + raw[3:], "Thing")
    with pytest.raises(FormatError, match="flags"):
        _serial.unpack(raw[:3] + bytes([1]) + raw[4:], "Thing")
    for cut in [0, 3, 7, 8, 10, 23, 30, len(raw) // 2, len(raw) - 1]:
        with pytest.raises(FormatError):
            _serial.unpack(raw[:cut], "Thing")
    with pytest.raises(FormatError):
        _serial.unpack(raw + b"\0", "Thing")  # trailing bytes
    for pos in [5, 9, 12, len(raw) - 3]:  # flipped bytes in the crc, header, table, data
        bad = bytearray(raw)
        bad[pos] ^= 0x40
        with pytest.raises(FormatError, match="checksum"):
            _serial.unpack(bytes(bad), "Thing")


def test_every_flipped_byte_and_truncation_is_a_format_error() -> None:
    # exhaustive over a small RAS-like buffer: never another exception, with or without the crc
    arrays = {"wm.words": np.arange(5, dtype=np.uint64), "wm.lengths": np.ones(3, np.uint8)}
    raw = _serial.pack("sckit.ras", {"version": 1, "kind": "block", "shape": [3, 4]}, arrays)
    for pos in range(len(raw)):
        for flip in (0x01, 0x80, 0xFF):
            bad = bytearray(raw)
            bad[pos] ^= flip
            with pytest.raises(FormatError):
                _serial.unpack(bytes(bad), "sckit.ras")
            try:  # without the checksum the parser must still fail cleanly or succeed
                _serial.unpack(bytes(bad), "sckit.ras", verify=False)
            except FormatError:
                pass
    for cut in range(len(raw)):
        with pytest.raises(FormatError):
            _serial.unpack(raw[:cut], "sckit.ras", verify=False)


def test_header_is_compact() -> None:
    # a known kind, schema meta and known array names: a few bytes each, not a JSON table
    meta = {"n": 100, "sigma": 50, "max_code_length": 32, "n_bits": 500, "symbols_as": "values"}
    arrays = {"words": np.zeros(10, np.uint64), "lengths": np.zeros(7, np.uint8)}
    raw = _serial.pack("HuffmanWaveletMatrix", meta, arrays)
    assert _serial.header_size("HuffmanWaveletMatrix", meta, arrays) <= 32
    assert _serial.unpack(raw, "HuffmanWaveletMatrix")[0] == meta


@pytest.mark.parametrize("value", [
    0, 127, 128, -1, -(2**40), 2**63 + 5, 0.0, -0.0, 1.5, 0.1, 1e300, -3.0, 2.0**60, "", "a" * 300,
    "BitVector", "ünïcode", None, True, False, [], [1, [2, "x"]], {}, {"n": 3}, {"n": 1, "zzz": 2},
    {"n_bits": {"levels": [1.25]}},
])  # fmt: skip
def test_meta_values_round_trip(value) -> None:
    meta = {"v": value}
    got, _ = _serial.unpack(_serial.pack("K", meta, {}), "K")
    assert got == meta and type(got["v"]) is type(value if not isinstance(value, tuple) else [])
    if isinstance(value, float):
        assert struct.pack("<d", got["v"]) == struct.pack("<d", value)  # bit-exact, sign of zero


def test_unsupported_meta_and_dtypes_are_rejected() -> None:
    with pytest.raises(TypeError):
        _serial.pack("K", {"x": object()}, {})
    with pytest.raises(TypeError):
        _serial.pack("K", {"x": float("nan")}, {})
    with pytest.raises(TypeError):
        _serial.pack("K", {}, {"c": np.zeros(2, np.complex64)})


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


def test_huffman_wm_rebuilds_select_samples_on_load() -> None:
    rng = np.random.default_rng(2)
    x = rng.geometric(0.3, 20_000).astype(np.uint32)
    hwm = HuffmanWaveletMatrix(x)
    meta, arrays = hwm.to_arrays()
    assert "sel1" not in arrays and "sel0" not in arrays  # not stored: rebuilt from rank_dir
    r = HuffmanWaveletMatrix.from_bytes(hwm.to_bytes())
    assert np.array_equal(r._s1, hwm._s1) and np.array_equal(r._s0, hwm._s0)
    ks = np.arange(0, hwm.count(1), 997)
    assert np.array_equal(r.select_many(1, ks), np.flatnonzero(x == 1)[ks])
    bv = BitVector(rng.random(50_000) < 0.2)
    bmeta, barrays = bv.to_arrays()
    rebuilt = BitVector.from_arrays(bmeta, {"words": barrays["words"], "rank_dir": barrays["rank_dir"]})
    assert np.array_equal(rebuilt._s1, bv._s1) and np.array_equal(rebuilt._s0, bv._s0)
    with pytest.raises(FormatError, match="missing"):  # one of the two alone is an error
        BitVector.from_arrays(bmeta, {"words": barrays["words"], "rank_dir": barrays["rank_dir"],
                                      "sel1": barrays["sel1"]})
    bad_dir = barrays["rank_dir"].copy()
    bad_dir[-1] = np.uint64(10**9)
    with pytest.raises(FormatError):
        BitVector.from_arrays(bmeta, {"words": barrays["words"], "rank_dir": bad_dir})


@pytest.mark.parametrize("case", ["dense", "codebook_sparse"])
def test_small_ras_fixed_overhead(case: str) -> None:
    from sckit import ras

    rng = np.random.default_rng(4)
    if case == "dense":
        x = rng.normal(0, 0.02, (64, 32)).astype(np.float32)
        r = ras.encode(x, sparse=False, codebook=False)
    else:
        x = np.where(rng.random((40, 30)) < 0.2, rng.integers(1, 16, (40, 30)) * 0.01, 0)
        x = x.astype(np.float32)
        r = ras.encode(x, sparse=True, codebook=True)
    raw = r.to_bytes()
    assert len(raw) == r.nbytes and sum(r.space().values()) == r.nbytes
    assert r.space()["header"] <= 120  # was ~600-950 bytes with the JSON header
    r2 = ras.from_bytes(raw)
    assert np.array_equal(r2.decode(), x.view(np.uint32)) and r2.to_bytes() == raw
    base = np.frombuffer(raw, np.uint8).ctypes.data
    _, arrays = _serial.unpack(raw, "sckit.ras")
    for name, a in arrays.items():
        assert (a.ctypes.data - base) % min(a.dtype.itemsize, 8) == 0, name


def test_empty_array_of_an_impossible_shape_is_a_format_error() -> None:
    """A forged table entry: a dimension of 0 beside dimensions whose product numpy cannot
    hold (found by fuzz_structures: "array is too big" from inside numpy)."""
    blob = _serial.pack("thing", {}, {"a": np.zeros((0, 2**25, 2**25), np.uint8)})
    with pytest.raises(FormatError, match="2\\*\\*48"):
        _serial.unpack(blob, "thing")
    ok = _serial.pack("thing", {}, {"a": np.zeros((0, 2**20, 2**20), np.uint8)})
    assert _serial.unpack(ok, "thing")[1]["a"].shape == (0, 2**20, 2**20)
