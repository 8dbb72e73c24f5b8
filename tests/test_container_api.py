"""sckit.container.Writer / Reader: the streaming API under save/load and pack/unpack/open.
Checkpoints (named tensors + string metadata), raw storage of dtypes sckit cannot encode, lazy
per-tensor RAS, atomic commit and abort."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from sckit.container import TENSOR_DTYPES, FormatError, Reader, Writer
from sckit.tensor_io import encode_tensor


def _bits(t: torch.Tensor) -> np.ndarray:
    return t.detach().contiguous().reshape(-1).view(torch.uint8).numpy()


def _random(dtype: torch.dtype, shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """Random bytes reinterpreted as ``dtype`` (every bit pattern, NaN payloads included)."""
    size = torch.empty(0, dtype=dtype).element_size()
    g = np.random.default_rng(seed)
    b = torch.from_numpy(g.integers(0, 256, size=int(np.prod(shape)) * size, dtype=np.uint8))
    return b.view(dtype).reshape(shape) if b.numel() else torch.empty(shape, dtype=dtype)


ALL_DTYPES = [getattr(torch, n) for n in TENSOR_DTYPES]
# torch warns that complex32 is experimental; storing its bytes is not
pytestmark = pytest.mark.filterwarnings("ignore:ComplexHalf support is experimental")


def test_checkpoint_round_trip_every_dtype(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.sck"
    tensors = {f"t.{i}": _random(dt, (3, 5), i) for i, dt in enumerate(ALL_DTYPES)}
    tensors["scalar"] = torch.tensor(1.5, dtype=torch.float64)
    ras_src = torch.randint(-8, 8, (128, 64)).to(torch.bfloat16)
    meta = {"format": "pt", "note": "é ünïcode", "empty": ""}
    with Writer(path, kind="checkpoint", metadata=meta) as w:
        for k, t in tensors.items():
            w.add_tensor(k, t)
        w.add_tensor("encoded", ras=encode_tensor(ras_src))
        w.add_tensor("u32raw", raw_bytes=np.arange(6, dtype=np.uint32).tobytes(), dtype="uint32", shape=[2, 3])
    assert os.listdir(tmp_path) == ["ckpt.sck"]
    for mmap in (False, True):
        r = Reader(path, mmap=mmap)
        assert r.kind == "checkpoint" and r.version == 3 and r.metadata == meta
        assert r.names == [*tensors, "encoded", "u32raw"]
        for k, t in tensors.items():
            e = r.entry(k)
            assert (e.dtype, e.shape, e.storage, e.role) == (str(t.dtype)[6:], tuple(t.shape), "raw", None)
            got = r.tensor(k)
            assert got.dtype == t.dtype and got.shape == t.shape
            assert np.array_equal(_bits(got), _bits(t)), k
            assert np.array_equal(r.raw(k), _bits(t))
        assert r.entry("encoded").storage == "ras" and r.entry("encoded").dtype == "bfloat16"
        assert np.array_equal(_bits(r.tensor("encoded")), _bits(ras_src))
        assert r.ras("encoded") is r.ras("encoded")  # built once
        assert r.tensor("u32raw").tolist() == [[0, 1, 2], [3, 4, 5]]


def test_reader_touches_only_the_asked_tensor(tmp_path: Path) -> None:
    """A damaged tensor fails only when it (or a small tensor sharing its CRC group) is asked
    for: checks are lazy, one CRC per group of >= 1 MiB of consecutive tensors."""
    path = tmp_path / "c.sck"
    a, b = torch.arange(32768, dtype=torch.float32), torch.ones(2048)
    with Writer(path) as w:
        w.add_tensor("a", ras=encode_tensor(a.reshape(256, 128)))
        w.add_tensor("a2", torch.randn(512, 512))  # >= 1 MiB: closes a's group
        w.add_tensor("b", b)
    raw = bytearray(path.read_bytes())
    r = Reader(path)
    off = r._entries["b"].raw.offset  # type: ignore[union-attr]
    raw[off + 5] ^= 0x10
    path.write_bytes(bytes(raw))
    r = Reader(path)
    assert np.array_equal(_bits(r.tensor("a")), _bits(a.reshape(256, 128)))
    assert [len(r._entries[n].checks) for n in r.names] == [1, 1, 1]
    assert r._entries["a"].checks != r._entries["b"].checks
    with pytest.raises(FormatError, match="'b': checksum mismatch"):
        r.tensor("b")
    with pytest.raises(FormatError, match="checksum"):
        Reader(path).verify()
    assert Reader(path, verify=False).tensor("b").shape == (2048,)


def test_writer_abort_and_exception_keep_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "c.sck"
    with Writer(path) as w:
        w.add_tensor("x", torch.ones(3))
    old = path.read_bytes()
    with pytest.raises(RuntimeError, match="boom"), Writer(path) as w:
        w.add_tensor("y", torch.zeros(1000))
        raise RuntimeError("boom")
    w = Writer(path)
    w.add_tensor("z", torch.zeros(10))
    w.abort()
    assert path.read_bytes() == old and os.listdir(tmp_path) == ["c.sck"]
    with pytest.raises(RuntimeError, match="already"):
        w.add_tensor("q", torch.zeros(1))


def test_writer_refuses_bad_input_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "c.sck"
    with pytest.raises(ValueError, match="kind"):
        Writer(path, kind="pickle")
    with pytest.raises(TypeError, match="str to str"):
        Writer(path, metadata={"a": 1})  # type: ignore[dict-item]
    with Writer(path) as w:
        with pytest.raises(TypeError, match="exactly one"):
            w.add_tensor("a")
        with pytest.raises(ValueError, match="needs 24"):
            w.add_tensor("a", raw_bytes=b"\0" * 23, dtype="float32", shape=[2, 3])
        with pytest.raises(ValueError, match="dtype"):
            w.add_tensor("a", raw_bytes=b"", dtype="float128", shape=[0])
        with pytest.raises(ValueError, match="no role"):
            w.add_tensor("a", torch.ones(1), role="parameter")
        with pytest.raises(ValueError, match="no tied"):
            w.add_tied("b", "a")
        w.add_tensor("a", torch.ones(1))
        with pytest.raises(ValueError, match="added twice"):
            w.add_tensor("a", torch.ones(1))
        with pytest.raises(ValueError, match="sparse|strided|layout"):
            w.add_tensor("sp", torch.ones(2, 2).to_sparse())
    assert Reader(path).names == ["a"]


def test_reader_errors_name_the_tensor(tmp_path: Path) -> None:
    path = tmp_path / "c.sck"
    with Writer(path) as w:
        w.add_tensor("a", torch.ones(2))
    r = Reader(path)
    with pytest.raises(KeyError, match="no tensor 'nope'"):
        r.entry("nope")
    with pytest.raises(ValueError, match="not RAS"):
        r.ras("a")
    assert "a" in r and len(r) == 1 and list(r) == ["a"]


def test_save_streams_and_keeps_symlinks(tmp_path: Path) -> None:
    """Writer writes each tensor when it is added (the temporary grows before commit), and
    sckit.save through a symlink replaces the link's target."""
    import sckit

    path = tmp_path / "c.sck"
    with Writer(path) as w:
        w.add_tensor("a", torch.zeros(256, 1024))
        temps = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        assert len(temps) == 1 and temps[0].stat().st_size >= 1 << 20
    assert not temps[0].exists()
    real = tmp_path / "real.sck"
    link = tmp_path / "link.sck"
    link.symlink_to(real)
    m = torch.nn.Linear(4, 3)
    sckit.save(m, link)
    assert link.is_symlink() and real.is_file()
    back = sckit.load(link, model=torch.nn.Linear(4, 3))
    assert torch.equal(back.weight.view(torch.int32), m.weight.view(torch.int32))


def test_reader_validate_option(tmp_path: Path) -> None:
    path = tmp_path / "c.sck"
    t = torch.randint(-5, 5, (64, 32)).float()
    with Writer(path) as w:
        w.add_tensor("t", ras=encode_tensor(t))
    for validate in ("full", "fast"):
        got = Reader(path, validate=validate).tensor("t")
        assert np.array_equal(_bits(got), _bits(t))
    with pytest.raises(ValueError, match="validate"):
        Reader(path, validate="none")


def test_writer_refuses_metadata_the_reader_would_refuse(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="1024"):
        Writer(tmp_path / "c.sck", metadata={"k" * 1025: "v"})
    big = {"v": "x" * (1 << 20)}  # 1 MiB values are fine
    with Writer(tmp_path / "c.sck", metadata=big) as w:
        w.add_tensor("a", torch.ones(1))
    assert Reader(tmp_path / "c.sck").metadata == big
