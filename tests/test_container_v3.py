"""Container format 3: what it leaves out of the header (array lengths the meta determines,
meta values equal to another key's, default engine units, the decompressed header length) is
derived back exactly, every forged derivation is a FormatError naming the field, and small
models stay within 48 bytes of overhead per tensor."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import sckit
from sckit.container import Reader, Writer
from sckit.errors import FormatError
from sckit.ras.shapes import derived_lengths
from sckit.tensor_io import encode_tensor
from tests.container_helpers import rewrite_header, split_header


def _tensors() -> dict[str, tuple[torch.Tensor, dict[str, Any]]]:
    """One tensor per RAS form: (tensor, encode keywords)."""
    g = torch.Generator().manual_seed(5)
    w = torch.randn(96, 80, generator=g) * 0.05
    sparse = w * (torch.rand(w.shape, generator=g) < 0.2)
    sparse2 = w[:64] * (torch.rand(64, 80, generator=g) < 0.1)
    levels = torch.randn(12, generator=g)[torch.randint(0, 12, (70, 40), generator=g)]
    wide = torch.randn(300, 700, generator=g) * 0.02  # several chunks: "sel" is stored
    many = torch.randn(3000, generator=g)[torch.randint(0, 3000, (100, 100), generator=g)]
    return {
        "wm_dense": (w, {"layout": "wm"}),
        "wm_sparse": (sparse, {"layout": "wm", "kind": "element", "sparse": True, "codebook": False}),
        "wm_block_sparse": (sparse2, {"layout": "wm", "kind": "block", "sparse": True, "codebook": False}),
        "wm_codebook": (levels, {"layout": "wm"}),
        "wm_sign_raw": (w.abs() + 1e-3, {"layout": "wm"}),
        "bg_float32": (w, {"layout": "bytegroup"}),
        "bg_wide": (wide, {"layout": "bytegroup"}),
        "bg_bf16": (w.to(torch.bfloat16), {"layout": "bytegroup"}),
        "bg_codebook": (levels, {"layout": "bytegroup"}),
        "bg_wide_codebook": (many, {"layout": "bytegroup"}),  # > 256 values: "codebook_entries"
        "wm_half": (w.half(), {"layout": "wm"}),
    }


def _bits(t: torch.Tensor) -> np.ndarray:
    return t.detach().contiguous().reshape(-1).view(torch.uint8).numpy()


@pytest.mark.parametrize("name", list(_tensors()))
def test_derived_lengths_are_the_real_lengths(name: str) -> None:
    t, kw = _tensors()[name]
    meta, arrays = encode_tensor(t, **kw).to_arrays()
    got = derived_lengths(meta)
    assert got, "no length derived"
    for k, n in got.items():
        assert arrays[k].ndim == 1 and arrays[k].shape[0] == n, k
    if name.startswith("wm"):  # the bit vectors' words and directories always follow
        assert {"wm.words", "wm.rank_dir"} <= set(got)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("v3") / "c.sck"
    with Writer(path) as w:
        for name, (t, kw) in _tensors().items():
            w.add_tensor(name, ras=encode_tensor(t, **kw))
        w.add_tensor("plain", torch.arange(5.0))
    return path


def test_v3_header_leaves_out_what_it_derives_and_reads_back_bit_exactly(ckpt: Path) -> None:
    raw = ckpt.read_bytes()
    h, _ = split_header(raw)
    assert h["version"] == 3
    derived = {n for s in h["ras_schemas"] for n in s.get("derived", [])}
    # (a byte-grouped codebook tensor shares its schema with the others: its code words'
    # length depends on its codebook, so no tensor of that schema derives "words")
    assert {"wm.words", "wm.rank_dir", "dist.words", "dist.rank_dir", "raw", "sel"} <= derived
    assert any(s.get("same") == {"wm.n": "n_stream", "dist.n": "n_entries"} for s in h["ras_schemas"])
    assert "h0_total_bits" not in json.dumps(h)
    for row in h["tensors"]:
        if "r" in row:
            schema = h["ras_schemas"][row["r"][0]]
            assert len(row["a"]) == len(schema["arrays"]) - len(schema.get("derived", []))
    want = _tensors()
    for mmap in (False, True):
        with Reader(ckpt, mmap=mmap) as r:
            r.verify()
            for name, (t, kw) in want.items():
                assert np.array_equal(_bits(r.tensor(name)), _bits(t)), name
                # the order-0 statistics, recomputed on load, are the encoder's
                assert r.ras(name).h0_bits == encode_tensor(t, **kw).h0_bits, name


def _schema(h: dict[str, Any], name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    row = next(t for t in h["tensors"] if t["n"] == name)
    return h["ras_schemas"][row["r"][0]], row


def _drop_stored(h: dict[str, Any], name: str, array: str) -> None:
    """Mark a stored array of ``name``'s schema as derived (and drop its row entry)."""
    schema, row = _schema(h, name)
    stored = [a for a in schema["arrays"] if a not in schema.get("derived", [])]
    row["a"].pop(stored.index(array))
    schema.setdefault("derived", []).append(array)


def _meta_value(h: dict[str, Any], name: str, key: str, value: Any) -> None:
    schema, row = _schema(h, name)
    row["r"][1 + schema["meta"].index(key)] = value


CASES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "derived names no array": (lambda h: _schema(h, "wm_sparse")[0]["derived"].append("nope"), ".derived"),
    "derived twice": (lambda h: _schema(h, "wm_sparse")[0]["derived"].append("wm.words"), "named once"),
    "derived without fixed dtype": (lambda h: _schema(h, "wm_sparse")[0]["dtypes"].__setitem__(0, None),
                                    ".derived"),
    "derived data-dependent array": (lambda h: _drop_stored(h, "wm_sparse", "wm.lengths"),
                                     "does not determine 'wm.lengths'"),
    "derived from a forged count": (lambda h: _meta_value(h, "wm_sparse", "wm.n_bits", 10**15),
                                    "runs past the data"),
    "derived from a string": (lambda h: _meta_value(h, "wm_sparse", "wm.n_bits", "9"), "'n_bits'"),
    "derived from a negative count": (lambda h: _meta_value(h, "bg_float32", "total_bits", -3),
                                      "'total_bits'"),
    "same names a missing key": (lambda h: _schema(h, "wm_sparse")[0]["same"].update({"wm.n": "nope"}),
                                 ".same"),
    "same overrides a stored key": (lambda h: _schema(h, "wm_sparse")[0]["same"].update(
        {"n_stream": "n_entries"}), ".same"),
    "same a list": (lambda h: _schema(h, "wm_sparse")[0].update(same=["wm.n"]), ".same"),
    "derived a string": (lambda h: _schema(h, "wm_sparse")[0].update(derived="wm.words"), ".derived"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_forged_v3_fields_are_named(case: str, ckpt: Path, tmp_path: Path) -> None:
    edit, field = CASES[case]
    raw = ckpt.read_bytes()
    h = copy.deepcopy(split_header(raw)[0])
    if "meta" in case or "count" in case or "string" in case:  # values the schema keeps per row
        for s in h["ras_schemas"]:
            s["meta"] = list(s["meta"])
    edit(h)
    path = tmp_path / "x.sck"
    path.write_bytes(rewrite_header(raw, h))
    with pytest.raises(FormatError) as info:
        with Reader(path) as r:
            for name in r.names:
                r.tensor(name)
    assert field in str(info.value), str(info.value)


def test_version_2_files_refuse_version_3_fields(tmp_path: Path) -> None:
    from tests.test_container_v2 import FIXTURES

    raw = (FIXTURES / "v2_checkpoint.sck").read_bytes()
    h, _ = split_header(raw)
    h["ras_schemas"][0]["derived"] = []
    path = tmp_path / "x.sck"
    path.write_bytes(rewrite_header(raw, h, zid=1))
    with pytest.raises(FormatError, match=r"ras_schemas\[0\]\.derived: unknown field"):
        Reader(path)


def _overhead(obj: Any, path: Path) -> tuple[int, int]:
    """(file bytes - payload bytes, tensors): payload = each raw tensor's bytes plus each RAS's
    array bytes, the measure of benchmarks/bench_container.py."""
    from sckit.engine import SuccinctModel

    sckit.save(obj, path)
    module, ras = (obj.module, obj._runtime.ras) if isinstance(obj, SuccinctModel) else (obj, {})
    sd = module.state_dict()
    payload = 0
    for k, v in sd.items():
        payload += (sum(np.asarray(a).nbytes for a in ras[k].to_arrays()[1].values()) if k in ras
                    else v.numel() * v.element_size())
    return path.stat().st_size - payload, len(sd)


@pytest.mark.parametrize("name", ["lenet5", "lenet300_100"])
def test_small_models_stay_within_48_bytes_per_tensor(name: str, tmp_path: Path) -> None:
    from sckit import zoo

    m, x = zoo.create_model(name), zoo.default_input(name)
    variants = {"dense": m, "compressed": sckit.compress(m, x, decode_ahead=False),
                "pruned 80%": sckit.compress(sckit.prune(m, 0.8), x, decode_ahead=False),
                "4-bit": sckit.compress(sckit.quantize(m, 4, method="kmeans"), x, decode_ahead=False)}
    raw = sum(v.numel() * v.element_size() for v in m.state_dict().values())
    for label, obj in variants.items():
        over, n = _overhead(obj, tmp_path / "m.sck")
        assert over <= 48 * n, (label, over / n)
        assert (tmp_path / "m.sck").stat().st_size <= raw + 1024, label
    h, _ = split_header((tmp_path / "m.sck").read_bytes())
    assert "units" not in h["engine"]  # the default grouping, left out
