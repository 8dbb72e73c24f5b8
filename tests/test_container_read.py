"""Reading a container: one descriptor for the whole read (a concurrent save never gives a false
FormatError), regular files only (FIFOs and devices refused without hanging), the prefix
checked before anything else is read, clear errors for missing paths and folders."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import sckit
from sckit.container import Reader, Writer
from sckit.container._layout import BIG_SECTION_BYTES
from sckit.errors import FormatError


def _in_thread(fn: object, timeout: float = 10.0) -> BaseException | None:
    """Run ``fn`` in a thread; fail the test if it has not returned after ``timeout`` s."""
    out: list[BaseException | None] = [None]

    def run() -> None:
        try:
            fn()  # type: ignore[operator]
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            out[0] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), f"still running after {timeout} s (hang)"
    return out[0]


def test_missing_path_and_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        sckit.load(tmp_path / "nope.sck")
    with pytest.raises(FileNotFoundError):
        Reader(tmp_path / "nope.sck")
    with pytest.raises(IsADirectoryError):
        sckit.load(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.sck"
    os.mkfifo(fifo)
    exc = _in_thread(lambda: sckit.load(fifo))
    assert isinstance(exc, FormatError) and "not a regular file" in str(exc)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_device_is_refused_without_hanging() -> None:
    exc = _in_thread(lambda: sckit.load("/dev/zero"))
    assert isinstance(exc, FormatError) and "not a regular file" in str(exc)


def test_bad_magic_is_refused_before_reading_the_file(tmp_path: Path) -> None:
    """A 4 GiB file (sparse: no disk used) that is not a container fails at once."""
    path = tmp_path / "big.bin"
    with open(path, "wb") as f:
        f.write(b"NOTSCKIT")
        f.truncate(4 << 30)
    t0 = time.perf_counter()
    with pytest.raises(FormatError, match="bad magic"):
        sckit.load(path)
    # a header offset pointing past the end is refused from the prefix alone, too
    with open(path, "r+b") as f:
        f.write(b"SCKITCF\x00" + (2).to_bytes(4, "little") + bytes(4) + (8 << 30).to_bytes(8, "little")
                + (100).to_bytes(8, "little") + (100).to_bytes(8, "little") + bytes(24))
    with pytest.raises(FormatError, match="truncated"):
        sckit.load(path)
    assert time.perf_counter() - t0 < 2.0


def test_concurrent_save_never_gives_a_false_format_error(tmp_path: Path) -> None:
    """A writer thread keeps replacing the file with one of two models while loads run: every
    load returns one of the two, bit-exactly, and none raises."""
    torch.manual_seed(0)
    models = [nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 8 + 8 * i)) for i in range(2)]
    states = [{k: v.view(-1).view(torch.uint8).numpy().copy() for k, v in m.state_dict().items()} for m in models]
    path = tmp_path / "m.sck"
    sckit.save(models[0], path)
    stop = threading.Event()
    saves = [0]

    def writer() -> None:
        while not stop.is_set():
            sckit.save(models[saves[0] % 2], path)
            saves[0] += 1

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    try:
        n, deadline = 0, time.perf_counter() + 20.0
        while (n < 300 or saves[0] < 20) and time.perf_counter() < deadline:
            time.sleep(0.0005)  # let the writer thread run between loads
            with Reader(path, mmap=n % 2 == 0) as r:
                r.verify()
                got = {k: r.raw(k) for k in r.names}
            assert any(got.keys() == s.keys() and all(np.array_equal(got[k], s[k]) for k in s)
                       for s in states)
            n += 1
    finally:
        stop.set()
        t.join(10)
    assert n >= 300 and saves[0] >= 20, (n, saves[0])
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "m.sck"]
    assert not leftovers, leftovers


def test_mmap_views_are_zero_copy_and_aligned(tmp_path: Path) -> None:
    from sckit.tensor_io import encode_tensor

    path = tmp_path / "c.sck"
    big = torch.randint(-8, 8, (1024, 512)).float()
    with Writer(path) as w:
        w.add_tensor("small", torch.ones(3, dtype=torch.float16))
        w.add_tensor("big", ras=encode_tensor(big))
        w.add_tensor("raw", torch.arange(16384, dtype=torch.float64))
    r = Reader(path, mmap=True)
    import mmap as mmap_mod

    def from_map(a: np.ndarray) -> bool:
        base: object = a
        while isinstance(base, (np.ndarray, memoryview)):
            base = base.obj if isinstance(base, memoryview) else base.base
        return isinstance(base, mmap_mod.mmap)

    sections = r._entries["big"].arrays
    assert sections
    big_seen = False
    packed = False
    for k, sec in sections.items():
        a = r._array(sec, copy=False)  # what RAS.from_arrays is given
        assert a.ctypes.data % a.dtype.itemsize == 0, k  # always aligned, as the kernels need
        if a.nbytes >= BIG_SECTION_BYTES:  # big RAS arrays: views of the map on their item size
            big_seen = True
            assert from_map(a) and not a.flags.writeable, k
        # version 3 packs small RAS arrays unaligned; the reader hands out an aligned copy
        packed |= sec.offset % a.dtype.itemsize != 0
    assert big_seen and packed
    assert np.array_equal(r.tensor("big").view(torch.int32).numpy(), big.view(torch.int32).numpy())
    raw = r.raw("raw")
    assert raw.ctypes.data % 64 == 0 and not raw.flags.writeable
    assert torch.equal(r.tensor("raw"), torch.arange(16384, dtype=torch.float64))
