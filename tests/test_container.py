"""sckit.save / sckit.load: round trips, atomic writes, and a fuzz test where every defect must be
a FormatError (never another exception, never a hang)."""

from __future__ import annotations

import json
import os
import random
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import sckit
from sckit import atomic, container, zoo
from sckit.engine import SuccinctModel, bit_equal
from sckit.errors import FormatError
from tests.container_helpers import rewrite_header, split_header, with_units


class Mlp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(12, 128)
        self.bn = nn.BatchNorm1d(128)
        self.fc2 = nn.Linear(128, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.bn(self.fc1(x))))


def _mlp() -> Mlp:
    torch.manual_seed(0)
    m = Mlp().eval()
    with torch.no_grad():
        m.bn.running_mean.normal_()
        m.bn.running_var.uniform_(0.5, 2.0)
    return m


X = torch.randn(5, 12, generator=torch.Generator().manual_seed(1))


def _state_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(bit_equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes, torch.Tensor]:
    model = _mlp()
    sm = sckit.compress(model, X, ras="block")
    assert "fc1.weight" in sm.ras and set(sm.module.state_dict()) - set(sm.ras)  # raw and RAS
    path = tmp_path_factory.mktemp("c") / "mlp.sck"
    sckit.save(sm, path)
    with torch.no_grad():
        ref = model(X)
    return path, path.read_bytes(), ref


def test_succinct_round_trip(saved: tuple[Path, bytes, torch.Tensor], tmp_path: Path) -> None:
    path, _, ref = saved
    for mmap in (False, True):
        sm = sckit.load(path, model=Mlp(), mmap=mmap)
        assert isinstance(sm, SuccinctModel)
        assert bit_equal(sm(X), ref)
        assert _state_equal(sm.to_dense().state_dict(), _mlp().state_dict())
    # save again from the loaded model: same bytes (deterministic writer)
    again = tmp_path / "again.sck"
    sckit.save(sckit.load(path, model=Mlp()), again)
    assert again.read_bytes() == path.read_bytes()


def test_dense_round_trip_and_layout(tmp_path: Path) -> None:
    model = _mlp()
    path = tmp_path / "dense.sck"
    sckit.save(model, path)
    loaded = sckit.load(path, model=Mlp())
    assert type(loaded) is Mlp
    assert _state_equal(loaded.state_dict(), model.state_dict())
    raw = path.read_bytes()
    magic, version, hcrc, hoff, hlen, _ = struct.unpack("<8sIIQIB3x", raw[:32])
    assert magic == container.MAGIC and version == container.FORMAT_VERSION == 3
    assert hoff + hlen == len(raw)
    header, _ = _header(raw)
    assert header["kind"] == "dense" and zlib.crc32(raw[hoff:]) == hcrc
    assert [t["n"] for t in header["tensors"]] == list(model.state_dict())


def test_zoo_model_rebuilt_from_registry(tmp_path: Path) -> None:
    model = zoo.create_model("lenet5")
    if not hasattr(model, "_sckit_zoo"):  # the zoo records this at create_model time when it can
        model._sckit_zoo = {"name": "lenet5", "kwargs": {}}
    x = zoo.default_input("lenet5")
    sm = sckit.compress(model, x, ras="element")
    path = tmp_path / "lenet5.sck"
    sckit.save(sm, path)
    loaded = sckit.load(path)  # no model=: architecture comes from the registry
    with torch.no_grad():
        assert bit_equal(loaded(x), model(x))


def test_non_zoo_without_model_and_wrong_model(saved: tuple[Path, bytes, torch.Tensor]) -> None:
    path, _, _ = saved
    with pytest.raises(FormatError, match="model="):
        sckit.load(path)
    with pytest.raises(FormatError, match="header describes"):
        sckit.load(path, model=nn.Linear(12, 3))

    class Mlp2(Mlp):
        pass

    Mlp2.__qualname__ = Mlp.__qualname__  # same class name, different shapes
    wrong = Mlp2()
    wrong.fc1 = nn.Linear(12, 127)
    wrong.bn = nn.BatchNorm1d(127)
    wrong.fc2 = nn.Linear(127, 3)
    with pytest.raises(FormatError, match="does not match the module"):
        sckit.load(path, model=wrong)


def test_atomic_save_leaves_nothing_on_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.sck"
    sckit.save(_mlp(), path)
    good = path.read_bytes()

    def boom(*_a: object, **_k: object) -> None:
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(atomic.os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        sckit.save(_mlp(), path)
    assert path.read_bytes() == good  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.sck"]  # no temporary left


def _expect_format_error(path: Path, data: bytes, what: str) -> None:
    path.write_bytes(data)
    try:
        sckit.load(path, model=Mlp())
    except FormatError:
        return
    except Exception as exc:  # noqa: BLE001 - the point: anything else is a bug
        pytest.fail(f"{what}: {type(exc).__name__} instead of FormatError: {exc}")
    pytest.fail(f"{what}: loaded without error")


def _header(raw: bytes) -> tuple[dict, int]:
    h, hoff = split_header(raw)
    return with_units(h), hoff


def _with_header(raw: bytes, header: dict | list) -> bytes:
    """Rewrite the header and fix its checksum, so only the semantic checks can object."""
    return rewrite_header(raw, header)


def test_fuzz_truncation(saved: tuple[Path, bytes, torch.Tensor], tmp_path: Path) -> None:
    _, raw, _ = saved
    header, hoff = _header(raw)
    cuts = {0, 1, 8, 12, 63, 64, hoff, hoff + 1, len(raw) - 1}
    r = container.Reader(saved[0])
    for e in r._entries.values():
        for start, end, _ in e.checks:
            cuts |= {start, end, (start + end) // 2}
    rng = random.Random(0)
    cuts |= {rng.randrange(len(raw)) for _ in range(20)}
    target = tmp_path / "t.sck"
    for cut in sorted(c for c in cuts if c < len(raw)):
        _expect_format_error(target, raw[:cut], f"truncated at {cut}")
    _expect_format_error(target, raw + b"\0", "one trailing byte")


def test_fuzz_byte_flips(saved: tuple[Path, bytes, torch.Tensor], tmp_path: Path) -> None:
    _, raw, _ = saved
    rng = random.Random(1)
    target = tmp_path / "f.sck"
    positions = list(range(64)) + [rng.randrange(len(raw)) for _ in range(150)]
    for pos in positions:
        data = bytearray(raw)
        data[pos] ^= 1 << rng.randrange(8)
        _expect_format_error(target, bytes(data), f"bit flip at byte {pos}")


def test_fuzz_header_rewrites(saved: tuple[Path, bytes, torch.Tensor], tmp_path: Path) -> None:
    _, raw, _ = saved
    header, hoff = _header(raw)
    target = tmp_path / "h.sck"
    first_ras = next(t["n"] for t in header["tensors"] if "r" in t)
    first_raw = next(t["n"] for t in header["tensors"] if "r" not in t and "t" not in t)

    def row(h: dict, name: str) -> dict:
        return next(t for t in h["tensors"] if t["n"] == name)

    edits = {
        "version": lambda h: h.update(version=2),
        "format": lambda h: h.update(format="zip"),
        "kind": lambda h: h.update(kind="weird"),
        "tensors not a list": lambda h: h.update(tensors={}),
        "unknown field": lambda h: h.update(sections=[]),
        "tensor shape": lambda h: row(h, first_raw).update(s=[1, 2, 3]),
        "tensor shape huge": lambda h: row(h, first_raw).update(s=[10**12]),
        "tensor dtype": lambda h: row(h, first_raw).update(d="float16"),
        "tensor dtype unknown": lambda h: row(h, first_raw).update(d="nn"),
        "tensor renamed": lambda h: row(h, first_raw).update(n="nope.weight"),
        "tensor dropped": lambda h: h["tensors"].pop(),
        "tensor duplicated": lambda h: h["tensors"].append(dict(h["tensors"][0])),
        "tensor crc": lambda h: h["tensors"][-1].update(c=h["tensors"][-1]["c"] ^ 1),
        "tensor role": lambda h: row(h, first_raw).update(b=1) if "b" not in row(h, first_raw) else row(h, first_raw).pop("b"),
        "ras array shape": lambda h: row(h, first_ras)["a"].__setitem__(0, 10**6),
        "ras schema index": lambda h: row(h, first_ras)["r"].__setitem__(0, 99),
        "ras meta": lambda h: row(h, first_ras).update(r=[0]),
        "ras shape": lambda h: row(h, first_ras).update(s=row(h, first_ras)["s"][::-1] + [1]),
        "engine unit": lambda h: h["engine"]["units"].update({"nope": ["fc1.weight"]}),
        "engine schedule": lambda h: h["engine"].update(schedule=["nope"]),
        "engine missing": lambda h: h.pop("engine"),
        "model class": lambda h: h["model"].update({"class": "os.system"}),
        "header not object": lambda h: h.clear(),
    }
    for what, edit in edits.items():
        h = json.loads(json.dumps(header))
        edit(h)
        _expect_format_error(target, _with_header(raw, h), what)
    # without model= the zoo entry is what rebuilds the architecture
    h = json.loads(json.dumps(header))
    h["model"]["zoo"] = {"name": "nope", "kwargs": {}}
    target.write_bytes(_with_header(raw, h))
    with pytest.raises(FormatError, match="unknown zoo model"):
        sckit.load(target)
    h["model"]["zoo"] = {"name": "lenet5", "kwargs": {"bogus": 1}}
    target.write_bytes(_with_header(raw, h))
    with pytest.raises(FormatError):
        sckit.load(target)
    # prefix-level rewrites
    _expect_format_error(target, b"NOTSCKIT" + raw[8:], "bad magic")
    _expect_format_error(target, raw[:8] + struct.pack("<I", 99) + raw[12:], "unknown version")
    _expect_format_error(target, rewrite_header(raw, None, text=b"\xff\xfe not json"), "header not JSON")
    _expect_format_error(target, b"", "empty file")


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        sckit.load(tmp_path / "nope.sck")
    with pytest.raises(IsADirectoryError):
        sckit.load(tmp_path)


def test_save_rejects_non_module(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        sckit.save({"a": np.zeros(3)}, tmp_path / "x.sck")  # type: ignore[arg-type]
    assert not os.listdir(tmp_path)


def test_save_to_a_folder_or_missing_folder_says_so(tmp_path: Path) -> None:
    model = torch.nn.Linear(3, 2)
    with pytest.raises(IsADirectoryError, match="is a folder; give a file name"):
        sckit.save(model, tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        sckit.save(model, tmp_path / "no" / "such" / "m.sck")
    assert not os.listdir(tmp_path)  # no temporary file left behind, nothing created


def test_encoded_weight_buffer_round_trips(tmp_path: Path) -> None:
    """A weight held as a buffer (as onnx2torch-converted models keep them) is encoded by
    compress and comes back from the file bit-exactly."""

    class BufNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("w", torch.randint(-4, 4, (32, 16)).float())
            self.fc = nn.Linear(32, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(torch.nn.functional.linear(x, self.w))

    torch.manual_seed(0)
    m = BufNet().eval()
    x = torch.randn(3, 16)
    sm = sckit.compress(m, x, ras="element", decode_ahead=False)
    path = tmp_path / "b.sck"
    sckit.save(sm, path)
    back = sckit.load(path, model=BufNet())
    with torch.no_grad():
        assert bit_equal(back(x), m(x))
    assert "w" in sm.ras and "w" in back.ras
    assert _state_equal(back.to_dense().state_dict(), m.state_dict())


def test_second_holder_of_a_tied_weight_always_gets_it(tmp_path: Path) -> None:
    """A module holding a tied encoded weight gets it in its forward even when the engine section
    has no unit for it (its forward did not run when traced, or the section was edited)."""

    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(16, 16, bias=False)
            self.b = nn.Linear(16, 16, bias=False)
            self.b.weight = self.a.weight
            self.use_b = False

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.b(self.a(x)) if self.use_b else self.a(x)

    torch.manual_seed(0)
    m = Tied().eval()
    with torch.no_grad():
        m.a.weight.copy_(torch.randint(-3, 3, (16, 16)).float())
    x = torch.randn(2, 16)
    sm = sckit.compress(m, x, ras="element", decode_ahead=False)  # traced without b
    assert "a.weight" in sm.ras
    path = tmp_path / "t.sck"
    sckit.save(sm, path)
    header, _ = _header(path.read_bytes())
    assert "b" not in header["engine"]["units"]
    back = sckit.load(path, model=Tied())
    back.module.use_b = m.use_b = True
    with torch.no_grad():
        assert bit_equal(back(x), m(x))
