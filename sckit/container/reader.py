"""``Reader``: open a container once, validate its header, and hand out tensors one at a time.

The path is opened once and everything comes from that descriptor (a concurrent ``save`` renames
a new file over the name and never changes the inode being read). The prefix (32 bytes; 64
before version 3) is read and its magic checked before anything else, the header's size is
checked against the file's size before it is read, and only then is the rest mapped (``mmap=True``) or read.
"""

from __future__ import annotations

import mmap as _mmap
import os
import stat
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sckit.container._header import entries_v1, entries_v2
from sckit.container._layout import (
    ALIGN,
    HEADER_INFO,
    MAGIC,
    PREFIX,
    PREFIX_V3,
    READS,
    Entry,
    Section,
    TensorInfo,
    data_start,
    np_dtype,
)
from sckit.container._schema import parse_json
from sckit.container._zdict import DICTIONARIES
from sckit.errors import FormatError

if TYPE_CHECKING:
    import torch

    from sckit.ras import RAS

__all__ = ["Reader", "open_regular"]

# a decompressed header larger than this is refused before it is inflated (a 1B-parameter
# checkpoint's header is a few hundred kB)
MAX_HEADER_BYTES = 1 << 28


def open_regular(path: Path) -> int:
    """Open ``path`` read-only and return the descriptor of a regular file. A missing path raises
    FileNotFoundError, a folder IsADirectoryError, a FIFO or device FormatError (opened without
    blocking, so a FIFO with no writer cannot hang the caller)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(f"{path} is a folder, not a container file")
        if not stat.S_ISREG(st.st_mode):
            raise FormatError(f"{path}: not a regular file (a FIFO, socket or device); "
                              "sckit reads containers from regular files only")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _pread(fd: int, n: int, offset: int, path: Path) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = os.pread(fd, min(n - len(out), 1 << 30), offset + len(out))
        if not chunk:
            raise FormatError(f"{path}: file shrank while being read ({offset + len(out)} < {offset + n})")
        out += chunk
    return bytes(out)


def _read_into(fd: int, buf: bytearray, path: Path) -> None:
    view, pos = memoryview(buf), 0
    while pos < len(buf):
        got = os.preadv(fd, [view[pos : pos + (1 << 30)]], pos)
        if got <= 0:
            raise FormatError(f"{path}: file shrank while being read ({pos} < {len(buf)})")
        pos += got


class Reader:
    """A container opened for reading: ``Reader(path, mmap=True, verify=True)``.

    Attributes: ``path``, ``version`` (1, 2 or 3), ``kind`` ("checkpoint", "dense" or "succinct"),
    ``metadata`` (``dict[str, str]``), ``names`` (tensor names in file order). Per tensor:
    :meth:`entry` (a :class:`TensorInfo`: dtype, shape, storage), :meth:`ras` (the
    ``sckit.ras.RAS``, built on first use from that tensor's sections only), :meth:`raw` (a raw
    tensor's bytes) and :meth:`tensor` (a decoded ``torch.Tensor``).

    ``mmap=True`` maps the file read-only: arrays are zero-copy views and only the pages a query
    touches are read (the map outlives the reader as long as an array uses it). ``mmap=False``
    reads the file into memory once. ``verify=True`` checks a tensor's CRC32 the first time any
    of its bytes are handed out (a pass over that tensor's bytes; :meth:`verify` checks all);
    ``verify=False`` skips it for random access into big tensors, relying on the structural
    checks of ``RAS.from_arrays`` alone (damage may then decode to wrong values, never crash).
    ``validate`` goes to ``RAS.from_arrays``: "full" also recomputes the rank directories from
    the bits; "fast" skips that pass, relying on the kernels' index clamps.

    Every defect raises ``sckit.FormatError`` naming the field or tensor; a missing path
    FileNotFoundError, a folder IsADirectoryError.
    """

    def __init__(self, path: str | os.PathLike[str], *, mmap: bool = True, verify: bool = True,
                 validate: str = "full") -> None:
        if validate not in ("full", "fast"):
            raise ValueError(f"validate must be 'full' or 'fast', got {validate!r}")
        self.path = Path(path)
        self.mmap, self._verify, self._validate = bool(mmap), bool(verify), validate
        fd = open_regular(self.path)
        try:
            size = os.fstat(fd).st_size
            self.version, hoff, top, entries, self._v1_sections = self._read_header(fd, size)
            if hoff == 0:
                self._buf: Any = memoryview(b"")
            elif mmap:
                self._buf = memoryview(_mmap.mmap(fd, hoff, access=_mmap.ACCESS_READ))
            else:
                data = bytearray(hoff)
                _read_into(fd, data, self.path)
                self._buf = memoryview(data).toreadonly()
        finally:
            os.close(fd)
        self._hoff = hoff
        self._top = top
        self.kind: str = top["kind"]
        self.metadata: dict[str, str] = dict(top.get("metadata", {}))
        self._entries: dict[str, Entry] = {}
        for i, e in enumerate(entries):
            if e.info.name in self._entries:
                raise FormatError(f"{self.path}: tensors[{i}].name {e.info.name!r} is listed twice")
            self._entries[e.info.name] = e
        for i, e in enumerate(entries):
            t = e.info.tied_to
            if t is not None and (t not in self._entries or self._entries[t].info.storage == "tied"):
                raise FormatError(f"{self.path}: tensors[{i}] {e.info.name!r} is tied to "
                                  f"{t!r}, which is not a stored tensor")
        self.names: list[str] = [e.info.name for e in entries]
        self._ras: dict[str, RAS] = {}
        self._verified: set[tuple[int, int]] = set()

    # -- opening ------------------------------------------------------------------------------
    def _fail(self, what: str) -> FormatError:
        return FormatError(f"{self.path}: {what}")

    def _read_header(self, fd: int, size: int) -> tuple[int, int, dict[str, Any], list[Entry], list[Section]]:
        if size < 12:
            raise self._fail(f"truncated file ({size} bytes; not even a prefix)")
        head = _pread(fd, min(size, ALIGN), 0, self.path)
        magic, version = struct.unpack_from("<8sI", head)
        if magic != MAGIC:
            raise self._fail(f"bad magic {magic!r} (expected {MAGIC!r}); not an sckit container")
        if version not in READS:
            raise self._fail(f"unknown format version {version} (this sckit reads {READS[0]} to "
                             f"{READS[-1]}; a newer sckit wrote it?)")
        start = data_start(version)
        if size < start:
            raise self._fail(f"truncated file ({size} bytes; the prefix alone is {start})")
        if version >= 3:
            _, _, hcrc, hoff, hlen, zdict = PREFIX_V3.unpack_from(head)
            raw_len, zero = MAX_HEADER_BYTES, head[29:32] == bytes(3)
        else:
            _, _, hcrc, hoff, hlen, reserved = PREFIX.unpack(head)
            raw_len, zdict = HEADER_INFO.unpack(reserved) if version == 2 else (hlen, 0)
            zero = reserved[9 if version == 2 else 0 :] == bytes(23 if version == 2 else 32)
        if not zero:
            raise self._fail("reserved prefix bytes are not zero")
        if zdict not in DICTIONARIES:
            raise self._fail(f"unknown header dictionary {zdict}")
        if hoff < start or (version == 1 and hoff % ALIGN):
            raise self._fail(f"header offset {hoff} is not a valid offset past the prefix")
        if hoff + hlen > size:
            raise self._fail(f"truncated file (header ends at {hoff + hlen}, file has {size} bytes)")
        if hoff + hlen != size:
            raise self._fail(f"{size - hoff - hlen} unexpected bytes after the header")
        if raw_len > MAX_HEADER_BYTES:
            raise self._fail(f"header of {raw_len} bytes is larger than {MAX_HEADER_BYTES}")
        stored = _pread(fd, hlen, hoff, self.path)
        got = zlib.crc32(stored)
        if got != hcrc:
            raise self._fail(f"header checksum mismatch (crc32 {got:#x} != {hcrc:#x})")
        raw = stored if version == 1 else self._inflate(stored, raw_len, DICTIONARIES[zdict],
                                                         exact=version == 2)
        h = parse_json(raw, f"{self.path}: header")
        try:
            if version == 1:
                top, entries, sections = entries_v1(h, hoff)
                return version, hoff, top, entries, sections
            top, entries = entries_v2(h, hoff, version, start)
        except FormatError as exc:
            raise self._fail(f"header {exc}") from None
        return version, hoff, top, entries, []

    def _inflate(self, stored: bytes, raw_len: int, zdict: bytes, exact: bool = True) -> bytes:
        """The header inflated, at most ``raw_len`` bytes (a zip bomb stops there); version 2
        records the length (``exact``), version 3 bounds it by MAX_HEADER_BYTES."""
        d = zlib.decompressobj(zdict=zdict) if zdict else zlib.decompressobj()
        try:
            raw = d.decompress(stored, raw_len + 1)
        except zlib.error as exc:
            raise self._fail(f"header does not decompress ({exc})") from None
        whole = d.eof and not d.unconsumed_tail and not d.unused_data
        if exact and (not whole or len(raw) != raw_len):
            raise self._fail(f"header does not decompress to its recorded {raw_len} bytes")
        if len(raw) > raw_len:
            raise self._fail(f"header inflates past {raw_len} bytes")
        if not whole:
            raise self._fail("header does not decompress to one complete stream")
        return raw

    # -- queries ------------------------------------------------------------------------------
    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Any:
        return iter(self.names)

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    _closed = False

    def close(self) -> None:
        """Drop the reader's references to the file; arrays already handed out stay valid.
        Reads after it raise ValueError (not numpy's error about an empty buffer)."""
        self._ras.clear()
        self._buf = memoryview(b"")
        self._closed = True

    @property
    def header(self) -> dict[str, Any]:
        """The validated model-level header fields (``model``, ``training``, ``engine``, ...)."""
        return self._top

    def entry(self, name: str) -> TensorInfo:
        """What the file says about tensor ``name`` (KeyError if it has none)."""
        return self._entry(name).info

    def _entry(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"{self.path} has no tensor {name!r}") from None

    def _check(self, e: Entry, force: bool = False) -> None:
        if e.verified or not (self._verify or force):
            return
        for start, end, crc in e.checks:
            if (start, end) in self._verified:  # a group another tensor already checked
                continue
            got = zlib.crc32(self._buf[start:end])
            if got != crc:
                raise self._fail(f"tensor {e.info.name!r}: checksum mismatch over bytes [{start}, {end}) "
                                 f"(crc32 {got:#x} != {crc:#x}): damaged data, or a header whose "
                                 "shapes disagree with it")
            self._verified.add((start, end))
        e.verified = True

    def verify(self, name: str | None = None) -> None:
        """Check every tensor's CRC32 (and, in version-1 files, that padding is zero): a full pass
        over the file, so no byte of it is unchecked. ``verify(name)`` checks that tensor's bytes
        only (a tied tensor's target's), whatever ``verify`` the reader was opened with."""
        if name is not None:
            self._check(self._resolve(name), force=True)
            return
        if self._closed:
            raise ValueError(f"{self.path}: verify() after the file was closed")
        for e in self._entries.values():
            self._check(e, force=True)
        cursor = ALIGN
        for i, s in enumerate(self._v1_sections):
            if any(self._buf[cursor : s.offset]):
                raise self._fail(f"non-zero padding before section {i}")
            cursor = s.offset + s.nbytes
        if self._v1_sections and any(self._buf[cursor : self._hoff]):
            raise self._fail("non-zero padding before the header")

    def _array(self, s: Section, copy: bool) -> np.ndarray:
        dt = np_dtype(s.dtype)
        a = np.frombuffer(self._buf, dtype=dt, count=s.nbytes // dt.itemsize, offset=s.offset)
        if copy:
            return a.reshape(s.shape).copy()
        if not a.flags.aligned:
            # version 3 packs small RAS arrays unaligned: the kernels want aligned arrays (numba
            # compiles unaligned ones separately), and a copy of a < 64 KiB array costs ~1 us;
            # read-only like the map's views, or numba would compile every kernel a second
            # time for writeable arrays
            a = a.copy()
            a.flags.writeable = False
        return a.reshape(s.shape)

    def raw(self, name: str) -> np.ndarray:
        """A raw tensor's bytes (read-only ``uint8`` array, a view of the file's map)."""
        e = self._resolve(name)
        if e.raw is None:
            raise ValueError(f"{self.path}: tensor {name!r} is stored as {e.info.storage}, not raw")
        self._check(e)
        return self._array(e.raw, copy=False)

    def _resolve(self, name: str) -> Entry:
        if self._closed:
            raise ValueError(f"{self.path}: read of tensor {name!r} after the file was closed")
        e = self._entry(name)
        return self._entries[e.info.tied_to] if e.info.tied_to is not None else e

    def ras(self, name: str, *, copy: bool = False) -> RAS:
        """The RAS of an encoded tensor, built from its sections only (cached). ``copy=True``
        copies the arrays out of the map. ValueError if the tensor is stored raw."""
        e = self._resolve(name)
        if e.arrays is None or e.meta is None:
            raise ValueError(f"{self.path}: tensor {name!r} is stored as {e.info.storage}, not RAS")
        key = e.info.name
        if key in self._ras and not copy:
            return self._ras[key]
        self._check(e)
        from sckit.ras import RAS

        arrays = {k: self._array(s, copy) for k, s in e.arrays.items()}
        try:
            r = RAS.from_arrays(e.meta, arrays, validate=self._validate)
        except FormatError as exc:
            raise self._fail(f"tensor {key!r}: {exc}") from None
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
            raise self._fail(f"tensor {key!r}: bad RAS descriptor ({type(exc).__name__}: {exc})") from None
        if tuple(r.shape) != e.info.shape or str(r.dtype) != e.info.dtype:
            raise self._fail(f"tensor {key!r}: RAS is {r.dtype}{list(r.shape)}, the header says "
                             f"{e.info.dtype}{list(e.info.shape)}")
        if not copy:
            self._ras[key] = r
        return r

    def tensor(self, name: str) -> torch.Tensor:
        """Tensor ``name`` as a new CPU ``torch.Tensor`` (decoded if encoded; a tied tensor gives
        its target's values)."""
        import torch

        from sckit.tensor_io import decode_tensor

        e = self._resolve(name)
        if e.arrays is not None:
            return decode_tensor(self.ras(e.info.name))
        dtype = getattr(torch, e.info.dtype)
        out = torch.empty(e.info.shape, dtype=dtype)
        if out.numel():
            copy_bytes_into(out, self.raw(e.info.name))
        return out


def copy_bytes_into(dst: torch.Tensor, src: np.ndarray) -> None:
    """Copy raw bytes into a contiguous CPU tensor's storage (no intermediate tensor)."""
    import torch

    flat = dst.reshape(-1)  # a 0-d tensor cannot be viewed as bytes of another width
    view = flat.view(torch.uint8).numpy()
    if view.nbytes != src.nbytes:
        raise ValueError(f"{src.nbytes} bytes for a tensor of {view.nbytes}")
    view[...] = src
