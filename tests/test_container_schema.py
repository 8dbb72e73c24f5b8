"""The container header's schema, field by field: every malformed field is a FormatError from
``sckit.load`` / ``Reader`` that names the field (never a TypeError, OverflowError or
RecursionError, and never a model that loads and fails later)."""

from __future__ import annotations

import copy
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import sckit
from sckit import container
from sckit.errors import FormatError
from tests.container_helpers import rewrite_header, split_header, with_units


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(16, 64)
        self.bn = nn.BatchNorm1d(64)
        self.fc2 = nn.Linear(64, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.bn(self.fc1(x))))


def _net() -> Net:
    torch.manual_seed(0)
    m = Net().eval()
    with torch.no_grad():  # 8 levels: RAS pays on the weights
        for p in (m.fc1.weight, m.fc2.weight):
            p.copy_(torch.randint(-4, 4, p.shape).float() / 4)
    return m


X = torch.randn(3, 16, generator=torch.Generator().manual_seed(1))


def _split(raw: bytes) -> tuple[dict[str, Any], int]:
    h, hoff = split_header(raw)
    return with_units(h), hoff


def _rewrite(raw: bytes, header: Any, *, text: bytes | None = None) -> bytes:
    """The file with ``header`` in place of its own, every checksum recomputed."""
    return rewrite_header(raw, header, text=text)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("schema")
    sm = sckit.compress(_net(), X, ras="element", decode_ahead=False)
    assert {"fc1.weight", "fc2.weight"} <= set(sm.ras)
    sckit.save(sm, d / "s.sck")
    with container.Writer(d / "c.sck", metadata={"k": "v"}) as w:
        w.add_tensor("a", torch.ones(2, 3))
        w.add_tensor("b", torch.zeros(4, dtype=torch.int64))
    return {"succinct": (d / "s.sck").read_bytes(), "checkpoint": (d / "c.sck").read_bytes()}


def _idx(h: dict[str, Any], name: str) -> int:
    return next(i for i, t in enumerate(h["tensors"]) if t["n"] == name)


def _ras_idx(h: dict[str, Any]) -> int:
    return _idx(h, "fc1.weight")


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """An edit setting ``path`` ("/"-separated; "T:name" picks a tensor row by name) to ``value``."""
    def edit(h: dict[str, Any]) -> None:
        node: Any = h
        parts = path.split("/")
        for p in parts[:-1]:
            node = node["tensors"][_idx(h, p[2:])] if p.startswith("T:") else (
                node[int(p)] if isinstance(node, list) else node[p])
        last = parts[-1]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return edit


# (edit, the field the message must name) on the compressed model's file
SUCCINCT_CASES: dict[str, tuple[Callable[[dict[str, Any]], None], str | tuple[str, ...]]] = {
    "kind wrong type": (_set("kind", ["succinct"]), "kind"),
    "format": (_set("format", "zip"), "format"),
    "version in header": (_set("version", 1), "version"),
    "unknown top field": (_set("sections", []), "sections: unknown field"),
    "tensors not a list": (_set("tensors", {"a": 1}), "tensors: must be a list"),
    "name a list": (_set("T:bn.running_mean/n", ["x"]), "].n: must be a string"),
    "dtype a list": (_set("T:bn.running_mean/d", ["float32"]), "].d: must be a string"),
    "dtype unknown": (_set("T:bn.running_mean/d", "float128"), "].d: 'float128' is not one of"),
    "shape a string": (_set("T:bn.running_mean/s", "64"), "].s: must be a list"),
    "shape negative": (_set("T:bn.running_mean/s", [-64]), "].s[0]: -64 is out of range"),
    "shape float": (_set("T:bn.running_mean/s", [64.0]), "].s[0]: must be an integer"),
    "shape huge": (_set("T:bn.running_mean/s", [10**30]), "].s[0]"),
    "shape product": (_set("T:bn.running_mean/s", [65]), ("'bn.running_mean'", "].s: shape")),
    "shape too big for file": (_set("T:bn.running_mean/s", [2**40]), "].s: shape [1099511627776]"),
    "crc negative": (lambda h: h["tensors"][-1].update(c=-1), "].c: -1 is out of range"),
    "crc string": (lambda h: h["tensors"][-1].update(c="0"), "].c: must be an integer"),
    "crc wrong": (lambda h: h["tensors"][-1].update(c=h["tensors"][-1]["c"] ^ 1), "checksum mismatch"),
    "role": (_set("T:bn.running_mean/b", 2), "].b: 2 is out of range"),
    "role mismatch": (lambda h: h["tensors"][_idx(h, "bn.running_mean")].pop("b"), "role 'parameter' does not match"),
    "requires_grad": (_set("T:bn.running_mean/g", "yes"), "].g: must be true or false"),
    "unknown tensor field": (_set("T:bn.running_mean/zz", 1), "].zz: unknown field"),
    "tied to a missing tensor": (lambda h: h["tensors"].__setitem__(_idx(h, "bn.bias"), {"n": "bn.bias", "t": "nope"}), "tied to 'nope'"),
    "tied with data fields": (lambda h: h["tensors"][_idx(h, "fc2.bias")].update(t="fc1.bias"), "not allowed on a tied tensor"),
    "buffer tied": (lambda h: h["tensors"].__setitem__(_idx(h, "bn.bias"), {"n": "bn.bias", "t": "fc1.bias", "b": 1}), "not allowed on a tied tensor"),
    "engine unit index": (_set("engine/units/fc1", [99]), "engine.units['fc1'][0]: tensor index 99 out of range"),
    "engine unit index type": (_set("engine/units/fc1", ["fc1.weight"]), "engine.units['fc1'][0]: must be an integer"),
    "ras schema index": (_set("T:fc1.weight/r/0", 7), "].r[0]: 7 is out of range"),
    "ras schema index type": (_set("T:fc1.weight/r/0", "0"), "].r[0]: must be an integer"),
    "ras meta count": (_set("T:fc1.weight/r", [0, 1]), "].r: has 1 meta values"),
    "ras meta nan": (lambda h: h["tensors"][_ras_idx(h)]["r"].__setitem__(-1, float("nan")), "].r["),
    "ras meta inf": (lambda h: h["tensors"][_ras_idx(h)]["r"].__setitem__(-1, float("inf")), "not a finite number"),
    "ras meta negative count": (lambda h: _negate_meta(h, "n_stream"), "'fc1.weight'"),
    "ras array code": (lambda h: h["tensors"][_ras_idx(h)]["a"].__setitem__(0, [99, [3]]), "].a[0]"),
    "ras array dims": (lambda h: h["tensors"][_ras_idx(h)]["a"].__setitem__(0, [0, [-3]]), "].a[0]"),
    "ras array count": (lambda h: h["tensors"][_ras_idx(h)]["a"].pop(), "].a: has"),
    "ras_schemas type": (_set("ras_schemas", {"meta": []}), "ras_schemas: must be a list"),
    "ras_schemas key type": (lambda h: h["ras_schemas"][0]["meta"].__setitem__(0, 5), "ras_schemas[0].meta[0]"),
    "ras_schemas dtype key": (lambda h: h["ras_schemas"][0]["meta"].__setitem__(0, "dtype"), "stored on the tensor"),
    "metadata value": (_set("metadata", {"a": 1}), "metadata['a']: must be a string"),
    "model class": (_set("model/class", 5), "model.class: must be a string"),
    "model zoo kwargs": (_set("model/zoo", {"name": "lenet5", "kwargs": [1]}), "model.zoo.kwargs: must be an object"),
    "training": (_set("training", "fc1"), "training: must be a list"),
    "training unknown": (_set("training", ["nope"]), "training[0]"),
    "engine missing": (lambda h: h.pop("engine"), "engine: missing"),
    "engine units type": (_set("engine/units", ["fc1"]), "engine.units: must be an object"),
    "engine unit value": (_set("engine/units/fc1", 0), "engine.units['fc1']: must be a list"),
    "engine unit names a buffer": (lambda h: h["engine"]["units"].update(fc1=[_idx(h, "bn.running_mean")]), "engine.units['fc1'][0]"),
    "engine unit not a module": (lambda h: h["engine"]["units"].update(nope=[0]), "engine.units['nope']"),
    "engine unit omits its weight": (lambda h: h["engine"]["units"].update(fc1=[_idx(h, "fc1.bias")]), "engine.units['fc1']: omits its module's encoded weight 'fc1.weight'"),
    "engine omits an encoded weight": (lambda h: h["engine"]["units"].pop("fc1"), "is in no unit"),
    "engine schedule type": (_set("engine/schedule", [1]), "engine.schedule[0]: must be a string"),
    "engine schedule unknown": (_set("engine/schedule", ["nope"]), "engine.schedule[0]"),
    "engine decode_ahead": (_set("engine/decode_ahead", "sometimes"), "engine.decode_ahead"),
    "engine reasons": (_set("engine/reasons", {"a": 3}), "engine.reasons['a']: must be a string"),
    "engine plan": (_set("engine/plan", {"fc1": 5}), "engine.plan['fc1']: must be an object"),
    "engine unknown field": (_set("engine/extra", 1), "engine.extra: unknown field"),
    "header without format": (lambda h: h.pop("format"), "format"),
}


def _negate_meta(h: dict[str, Any], key: str) -> None:
    """Set a count in the RAS meta (the first of ``key``, total_bits, n_entries present) to -5."""
    i = _ras_idx(h)
    sid = h["tensors"][i]["r"][0]
    keys = h["ras_schemas"][sid]["meta"]
    k = keys.index(next(c for c in (key, "total_bits", "n_entries") if c in keys))
    h["tensors"][i]["r"][1 + k] = -5


@pytest.mark.parametrize("case", list(SUCCINCT_CASES))
def test_field(case: str, files: dict[str, bytes], tmp_path: Path) -> None:
    edit, field = SUCCINCT_CASES[case]
    h, _ = _split(files["succinct"])
    h = copy.deepcopy(h)
    edit(h)
    path = tmp_path / "x.sck"
    path.write_bytes(_rewrite(files["succinct"], h))
    with pytest.raises(FormatError) as info:
        sckit.load(path, model=Net())
    fields = field if isinstance(field, tuple) else (field,)
    assert any(f in str(info.value) for f in fields), str(info.value)


def test_the_file_itself_loads(files: dict[str, bytes], tmp_path: Path) -> None:
    path = tmp_path / "x.sck"
    path.write_bytes(_rewrite(files["succinct"], _split(files["succinct"])[0]))
    sm = sckit.load(path, model=Net())
    with torch.no_grad():
        assert torch.equal(sm(X).view(torch.int32), _net()(X).view(torch.int32))


@pytest.mark.parametrize(("text", "field"), [
    (b"[" * 100_000 + b"]" * 100_000, "nested deeper"),
    (b'{"a":' * 40 + b"1" + b"}" * 40, "header format: is 'None'"),
    (b'{"format": "sckit-container", "version": 3, "kind": "checkpoint", "tensors": [], '
     b'"metadata": {"k": ' + b"[" * 500 + b"]" * 500 + b"}}", "metadata['k']: must be a string"),
    (b'{"format": "sckit-container", "version": 3, "kind": "dense", "tensors": [], '
     b'"model": {"class": "x", "zoo": {"name": "lenet5", "kwargs": {"a": ' + b"[" * 40 + b"]" * 40
     + b"}}}}", "model.zoo.kwargs['a']"),
    (b'{"format": NaN}', "format"),
    (b"\xff\xfe", "not valid UTF-8"),
    (b'{"format": "sckit-container", "version": 3, "kind": "checkpoint", "tensors": [], '
     b'"metadata": {"k": 1e999}}', "metadata['k']: must be a string"),
    (b"1" * 5000, "not valid JSON"),
    (b"[]", "header: is not a JSON object"),
])
def test_parse_level(text: bytes, field: str, files: dict[str, bytes], tmp_path: Path) -> None:
    path = tmp_path / "x.sck"
    path.write_bytes(_rewrite(files["checkpoint"], None, text=text))
    with pytest.raises(FormatError, match=field.replace("[", r"\[").replace("]", r"\]")):
        container.Reader(path)


CHECKPOINT_CASES = {
    "role in a checkpoint": (_set("T:a/b", 1), "no roles"),
    "checkpoint kind": (_set("kind", "checkpoints"), "kind"),
    "metadata key": (_set("metadata", {"k": ["v"]}), "metadata['k']"),
    "missing crc": (lambda h: h["tensors"][-1].pop("c"), "tensors[1].c: missing"),
    "missing name": (lambda h: h["tensors"][0].pop("n"), "tensors[0].n: missing"),
    "duplicate name": (_set("T:b/n", "a"), "listed twice"),
    "model fields in a checkpoint": (_set("engine", {}), "engine: unknown field"),
}


@pytest.mark.parametrize("case", list(CHECKPOINT_CASES))
def test_checkpoint_field(case: str, files: dict[str, bytes], tmp_path: Path) -> None:
    edit, field = CHECKPOINT_CASES[case]
    h = copy.deepcopy(_split(files["checkpoint"])[0])
    edit(h)
    path = tmp_path / "x.sck"
    path.write_bytes(_rewrite(files["checkpoint"], h))
    with pytest.raises(FormatError) as info:
        container.Reader(path)
    assert field in str(info.value), str(info.value)


def test_load_refuses_a_checkpoint(files: dict[str, bytes], tmp_path: Path) -> None:
    path = tmp_path / "c.sck"
    path.write_bytes(files["checkpoint"])
    with pytest.raises(FormatError, match="is a checkpoint"):
        sckit.load(path)


def test_header_size_is_checked_before_inflating(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sckit.container import reader
    from tests.test_container_v2 import FIXTURES

    bomb = zlib.compress(b" " * (20 << 20))  # 20 MiB of spaces in ~20 kB
    path = tmp_path / "b.sck"
    # version 2 records the inflated length: a wrong or oversized one is refused before inflating
    raw = (FIXTURES / "v2_checkpoint.sck").read_bytes()
    _, hoff = _split(raw)
    for declared, msg in ((len(bomb), "does not decompress to"), (2**40, "larger than")):
        prefix = struct.pack("<8sIIQQQ24s", container.MAGIC, 2, zlib.crc32(bomb), hoff, len(bomb), declared, b"")  # plain deflate
        path.write_bytes(prefix + raw[64:hoff] + bomb)
        with pytest.raises(FormatError, match=msg):
            container.Reader(path)
    # version 3 inflates at most MAX_HEADER_BYTES (made small here) and stops
    monkeypatch.setattr(reader, "MAX_HEADER_BYTES", 1 << 20)
    raw = files_v3 = sckit_checkpoint(tmp_path)
    _, hoff = _split(files_v3)
    path.write_bytes(struct.pack("<8sIIQIB3x", container.MAGIC, 3, zlib.crc32(bomb), hoff, len(bomb), 0)
                     + raw[32:hoff] + bomb)
    with pytest.raises(FormatError, match="inflates past 1048576 bytes"):
        container.Reader(path)


def sckit_checkpoint(folder: Path) -> bytes:
    """A small version-3 checkpoint's bytes."""
    path = folder / "v3.sck"
    with container.Writer(path) as w:
        w.add_tensor("a", torch.arange(10.0))
    return path.read_bytes()
