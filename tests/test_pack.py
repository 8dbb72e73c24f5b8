"""sckit.pack / sckit.unpack: checkpoints round-trip byte for byte (safetensors files, sharded
folders, PyTorch state dicts), whatever the thread count; bad input gets clear errors."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import sckit
from sckit.cli import main
from sckit.errors import FormatError

META = {"format": "pt", "note": "tiny llama-shaped test checkpoint"}


def llama_like(seed: int = 0, hidden: int = 64, layers: int = 2, vocab: int = 500) -> dict[str, torch.Tensor]:
    """A tiny Llama-shaped bf16 state dict plus the awkward cases: int64/bool buffers, float8,
    float32/float16, an empty and a 0-d tensor, and a sparse (half-zero) matrix."""
    g = torch.Generator().manual_seed(seed)

    def w(*shape: int) -> torch.Tensor:
        return (torch.randn(*shape, generator=g) * 0.02).to(torch.bfloat16)

    sd = {"model.embed_tokens.weight": w(vocab, hidden)}
    for i in range(layers):
        p = f"model.layers.{i}."
        for n in ("q", "k", "v", "o"):
            sd[p + f"self_attn.{n}_proj.weight"] = w(hidden, hidden)
        sd[p + "mlp.gate_proj.weight"] = w(3 * hidden, hidden)
        sd[p + "mlp.up_proj.weight"] = w(3 * hidden, hidden)
        sd[p + "mlp.down_proj.weight"] = w(hidden, 3 * hidden)
        sd[p + "input_layernorm.weight"] = torch.ones(hidden, dtype=torch.bfloat16)
    sd["model.norm.weight"] = 1 + w(hidden)
    sd["lm_head.weight"] = w(vocab, hidden)
    sd["position_ids"] = torch.arange(128, dtype=torch.int64)[None]
    sd["mask"] = torch.rand(16, 16, generator=g) > 0.5
    sd["fp8"] = torch.randn(32, 32, generator=g).to(torch.float8_e4m3fn)
    sd["f32"] = torch.randn(40, 30, generator=g)
    sd["f16"] = torch.randn(50, 20, generator=g).half()
    sd["empty"] = torch.zeros(0, 4, dtype=torch.bfloat16)
    sd["scalar"] = torch.tensor(3.5)
    sparse = w(128, 64)
    sparse[torch.rand(128, 64, generator=g) < 0.5] = 0
    sd["sparse"] = sparse
    return sd


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        x, y = a[k].contiguous().reshape(-1), b[k].contiguous().reshape(-1)
        assert torch.equal(x.view(torch.uint8), y.view(torch.uint8)), k  # bit patterns, not values


def st_contents(path: Path) -> tuple[dict[str, bytes], dict[str, str] | None]:
    with safe_open(path, framework="pt") as f:
        tensors = {k: f.get_tensor(k).contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
                   for k in f.keys()}
        return tensors, f.metadata()


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("ckpt")
    save_file(llama_like(), d / "model.safetensors", metadata=META)
    return d / "model.safetensors"


@pytest.fixture(scope="module")
def packed(ckpt, tmp_path_factory) -> tuple[Path, sckit.checkpoint.PackReport]:
    out = tmp_path_factory.mktemp("packed") / "model.sck"
    report = sckit.pack(ckpt, out, progress=False)
    return out, report


def test_safetensors_round_trip_byte_identical(ckpt, packed, tmp_path):
    out, report = packed
    back = sckit.unpack(out, tmp_path / "back.safetensors", progress=False)
    assert digest(back) == digest(ckpt)  # the whole file: header, metadata, every tensor
    t0, m0 = st_contents(ckpt)
    t1, m1 = st_contents(back)
    assert t1 == t0 and m1 == m0 == META
    assert report.n_tensors == len(t0) and report.input_bytes == sum(map(len, t0.values()))
    assert report.output_bytes < 0.9 * report.input_bytes


def test_report_lists_raw_tensors(packed):
    _, report = packed
    assert set(report.raw) == {"position_ids", "mask", "fp8"}  # not encodable: stored raw
    assert "I64" in report.raw["position_ids"] and "BOOL" in report.raw["mask"]
    assert "stored raw (3 tensors)" in report.summary()
    assert report.n_weights_encoded > 0.9 * 2 * 500 * 64


def test_dtypes_torch_lacks_are_carried_raw(tmp_path):
    """Sub-byte float codes (safetensors' F4, F6_E3M2) have no torch dtype: stored as bytes,
    reported, unpacked byte-identical, opened as uint8 bytes."""
    import struct

    from sckit.checkpoint_io import build_header

    for code, nbytes in (("F4", 16), ("F6_E3M2", 24)):
        hdr = build_header([("w", code, (4, 8), nbytes), ("x", "F32", (4,), 16)], {"k": "v"})
        src = tmp_path / f"{code}.safetensors"
        src.write_bytes(struct.pack("<Q", len(hdr)) + hdr + bytes(range(nbytes)) + bytes(16))
        rep = sckit.pack(src, tmp_path / f"{code}.sck", progress=False)
        assert code in rep.raw["w"]
        back = sckit.unpack(rep.path, tmp_path / f"{code}.back.safetensors", progress=False)
        assert back.read_bytes() == src.read_bytes()
        with sckit.open(rep.path) as f:
            assert f["w"].dtype == torch.uint8 and bytes(f["w"].numpy()) == bytes(range(nbytes))


def test_thread_count_gives_identical_files(ckpt, packed, tmp_path):
    one = sckit.pack(ckpt, tmp_path / "t1.sck", threads=1, progress=False).path
    three = sckit.pack(ckpt, tmp_path / "t3.sck", threads=3, progress=False).path
    assert digest(one) == digest(three) == digest(packed[0])
    a = sckit.unpack(one, tmp_path / "a.safetensors", threads=1, progress=False)
    b = sckit.unpack(three, tmp_path / "b.safetensors", threads=2, progress=False)
    assert digest(a) == digest(b) == digest(ckpt)


def test_row_blocks_round_trip(ckpt, packed, tmp_path):
    """Tensors over part_weights are encoded as row blocks: same file back, any thread count."""
    a = sckit.pack(ckpt, tmp_path / "p1.sck", part_weights=5000, threads=1, progress=False)
    b = sckit.pack(ckpt, tmp_path / "p2.sck", part_weights=5000, threads=2, progress=False)
    assert digest(a.path) == digest(b.path) != digest(packed[0])
    assert a.n_tensors == packed[1].n_tensors and a.raw == packed[1].raw
    back = sckit.unpack(a.path, tmp_path / "back.safetensors", progress=False)
    assert digest(back) == digest(ckpt)
    pt = sckit.unpack(a.path, tmp_path / "back.pt", progress=False)
    same_tensors(torch.load(pt, weights_only=True), _load_st(ckpt))


def _load_st(path: Path) -> dict[str, torch.Tensor]:
    with safe_open(path, framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.offset_keys()}  # file order


def _shard(sd: dict[str, torch.Tensor], folder: Path) -> None:
    names = list(sd)
    parts = {"model-00001-of-00002.safetensors": names[: len(names) // 2],
             "model-00002-of-00002.safetensors": names[len(names) // 2:]}
    weight_map = {}
    for fname, keys in parts.items():
        save_file({k: sd[k] for k in keys}, folder / fname, metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(keys, fname))
    total = sum(t.numel() * t.element_size() for t in sd.values())
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")


def test_sharded_folder_round_trip(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _shard(llama_like(seed=1), src)
    report = sckit.pack(src, tmp_path / "sharded.sck", progress=False)
    assert report.n_tensors == len(llama_like(seed=1))
    back = sckit.unpack(tmp_path / "sharded.sck", tmp_path / "back", progress=False)
    files = sorted(p.name for p in src.iterdir())
    assert sorted(p.name for p in back.iterdir()) == files
    for name in files:
        assert digest(back / name) == digest(src / name), name
    # the same checkpoint merged into one safetensors file: same tensors, shard 0's metadata
    one = sckit.unpack(tmp_path / "sharded.sck", tmp_path / "one.safetensors", progress=False)
    merged = {}
    for name in files[:2]:
        merged.update(st_contents(src / name)[0])
    t1, m1 = st_contents(one)
    assert t1 == merged and m1 == {"format": "pt"}


def test_torch_state_dict_round_trip_keeps_ties(tmp_path):
    sd = llama_like(seed=2)
    del sd["fp8"]  # torch.save handles it, but keep the .pt case about ties and order
    sd["lm_head.weight"] = sd["model.embed_tokens.weight"]  # tied, as in many LLMs
    sd["transposed"] = sd["f32"].t()  # strided: read block by block without a whole copy
    torch.save(sd, tmp_path / "model.pt")
    report = sckit.pack(tmp_path / "model.pt", tmp_path / "pt.sck", progress=False,
                        part_weights=300)
    assert report.n_tensors == len(sd) - 1  # the tie is stored once
    back = sckit.unpack(tmp_path / "pt.sck", tmp_path / "back.pt", progress=False)
    sd2 = torch.load(back, weights_only=True)
    same_tensors(sd, sd2)
    assert sd2["lm_head.weight"].data_ptr() == sd2["model.embed_tokens.weight"].data_ptr()
    with sckit.open(tmp_path / "pt.sck") as f:  # state_dict() ties them too, in file order
        sd3 = f.state_dict()
        sd4 = f.state_dict()  # the second read goes by the plan the first worked out
        kinds = {k for _, k, *_ in f._state_plan}
    same_tensors(sd, sd3)
    same_tensors(sd, sd4)
    assert sd3["lm_head.weight"] is sd3["model.embed_tokens.weight"]
    assert sd4["lm_head.weight"] is sd4["model.embed_tokens.weight"]
    from sckit.open_file import READ_OTHER, READ_RAS, READ_TIE

    assert {READ_RAS, READ_TIE, READ_OTHER} <= kinds  # encoded, tied, row blocks / raw alone
    for k in sd:  # new tensors each call, never the first call's memory
        assert sd4[k].numel() == 0 or sd4[k].data_ptr() != sd3[k].data_ptr(), k
    st = sckit.unpack(tmp_path / "pt.sck", tmp_path / "back.safetensors", progress=False)
    t1, _ = st_contents(st)
    assert set(t1) == set(sd)
    for k, v in sd.items():
        assert t1[k] == v.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes(), k


def test_cli_pack_unpack_force(ckpt, tmp_path, capsys):
    out = tmp_path / "cli.sck"
    assert main(["pack", str(ckpt), "-o", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "packed" in text and "MB/s" in text and "position_ids" in text
    back = tmp_path / "cli.safetensors"
    assert main(["unpack", str(out), "-o", str(back), "--no-progress"]) == 0
    assert digest(back) == digest(ckpt)
    # onto an existing file: refused without --force
    assert main(["unpack", str(out), "-o", str(back), "--no-progress"]) == 2
    assert "--force" in capsys.readouterr().err
    back.write_bytes(b"old")
    assert main(["unpack", str(out), "-o", str(back), "--force", "--no-progress"]) == 0
    assert digest(back) == digest(ckpt)
    # no -o: next to the input, with the suffix .sck; --threads is checked
    other = tmp_path / "other.safetensors"
    other.write_bytes(back.read_bytes())
    assert main(["pack", str(other), "--no-progress", "--threads", "1"]) == 0
    back2 = sckit.unpack(tmp_path / "other.sck", tmp_path / "b2.safetensors", progress=False)
    assert digest(back2) == digest(ckpt)
    assert main(["pack", str(back), "-o", str(tmp_path / "t.sck"), "--threads", "0"]) == 2
    assert "threads" in capsys.readouterr().err


def test_output_format_from_name_or_argument(ckpt, packed, tmp_path):
    folder = sckit.unpack(packed[0], tmp_path / "out", progress=False)  # no suffix: a folder
    assert digest(folder / ckpt.name) == digest(ckpt)
    pt = sckit.unpack(packed[0], tmp_path / "weights.bin", format="torch", progress=False)
    sd = torch.load(pt, weights_only=True)
    assert set(sd) == set(st_contents(ckpt)[0])
    with pytest.raises(ValueError, match="format"):
        sckit.unpack(packed[0], tmp_path / "x.safetensors", format="npz", progress=False)
    with pytest.raises(ValueError, match="output format"):
        sckit.unpack(packed[0], tmp_path / "x.npz", progress=False)


def test_existing_output_needs_force(packed, tmp_path):
    target = tmp_path / "x.safetensors"
    target.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="force"):
        sckit.unpack(packed[0], target, progress=False)
    assert target.read_bytes() == b"keep me"
    sckit.unpack(packed[0], target, force=True, progress=False)
    assert target.read_bytes() != b"keep me"


def test_truncated_safetensors_is_named(ckpt, tmp_path, capsys):
    data = ckpt.read_bytes()
    for cut in (5, 100, len(data) - 10):
        bad = tmp_path / f"cut{cut}.safetensors"
        bad.write_bytes(data[:cut])
        with pytest.raises(FormatError, match=f"cut{cut}.safetensors.*truncated"):
            sckit.pack(bad, tmp_path / "bad.sck", progress=False)
        assert not (tmp_path / "bad.sck").exists()  # nothing half-written
    assert main(["pack", str(bad), "-o", str(tmp_path / "bad.sck"), "--no-progress"]) == 2
    assert "truncated" in capsys.readouterr().err
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(FormatError, match="garbage.safetensors"):
        sckit.pack(garbage, tmp_path / "bad.sck", progress=False)


def test_unpack_rejects_model_container(tmp_path):
    sckit.save(torch.nn.Linear(4, 3), tmp_path / "lin.sck")
    with pytest.raises(FormatError, match="not a packed checkpoint"):
        sckit.unpack(tmp_path / "lin.sck", tmp_path / "x.safetensors", progress=False)


def test_forged_layout_is_a_format_error(tmp_path):
    from sckit.checkpoint import LAYOUT_KEY
    from sckit.container import Writer

    good = {"format": "torch", "tensors": [["w", "F32", [4, 2], None]],
            "parts": {"w": [["w::rows[0:2]", 0, 2], ["w::rows[2:4]", 2, 4]]}}
    bad = [("not json", "{"), ("no tensors", json.dumps({"format": "torch"})),
           ("gap", json.dumps({**good, "parts": {"w": [["a", 0, 2], ["b", 3, 4]]}})),
           ("short", json.dumps({**good, "parts": {"w": [["a", 0, 2]]}}))]
    for label, text in bad:
        path = tmp_path / f"{label}.sck"
        with Writer(path, kind="checkpoint", metadata={LAYOUT_KEY: text}) as w:
            w.add_tensor("w", torch.zeros(4, 2))
        with pytest.raises(FormatError, match="malformed"):
            sckit.unpack(path, tmp_path / "x.pt", progress=False)
        with pytest.raises(FormatError, match="malformed"):
            sckit.open(path)


def test_packing_streams_in_bounded_memory(tmp_path):
    """Scaled-down memory bound: a 201 MB checkpoint of 3 MB tensors packs with a peak resident
    set far below the checkpoint's size (tensor by tensor, never the whole model)."""
    n_tensors, rows, cols = 64, 1024, 1536  # 1.5 Mi bf16 weights = 3 MiB each
    script = textwrap.dedent(f"""
        import resource, sys, numpy as np, torch
        from safetensors.torch import save_file
        import sckit, sckit.ras, sckit.checkpoint, sckit.container
        g = torch.Generator().manual_seed(0)
        sd = {{f"w{{i}}": (torch.randn({rows}, {cols}, generator=g) * 0.02).to(torch.bfloat16)
              for i in range({n_tensors})}}
        save_file(sd, sys.argv[1])
        del sd
        sckit.pack(sys.argv[1], sys.argv[1] + ".warm.sck", progress=False, threads=1)  # compile
        import gc; gc.collect()
        base = int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0])
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak (VmHWM) to the current resident set
        sckit.pack(sys.argv[1], sys.argv[1] + ".sck", progress=False, threads=2,
                   memory_budget_bytes=64 << 20)  # room for one tensor's work at a time
        peak = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
        print((peak - base) * 1024)
    """)
    src = tmp_path / "big.safetensors"
    res = subprocess.run([sys.executable, "-c", script, str(src)], capture_output=True,
                         text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    grew = int(res.stdout.split()[-1])
    total = n_tensors * rows * cols * 2
    assert src.stat().st_size > total
    # one tensor's encoder working memory (tens of bytes per weight) plus slack; holding the
    # model would add `total` (201 MB) and its encoded form another ~140 MB
    assert grew < total // 3, (grew, total)


def _small_tensors(seed: int = 3) -> dict[str, torch.Tensor]:
    """A model of many small tensors (biases, norms, 3x3 convs) in two dtypes, and a big one."""
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}
    for i in range(30):
        sd[f"b{i}.conv"] = torch.randn(8, 4, 3, 3, generator=g) * 0.1
        sd[f"b{i}.bias"] = torch.randn(8, generator=g) * 0.01
        sd[f"b{i}.norm"] = (1 + 0.1 * torch.randn(16, generator=g)).to(torch.bfloat16)
    sd["head"] = torch.randn(300, 64, generator=g) * 0.02
    sd["one"] = torch.tensor([2.5])  # one weight
    return sd


def test_small_tensors_are_grouped_and_read_back(tmp_path):
    """Tensors under GROUP_MAX_WEIGHTS share one RAS per group (one code table, one entry):
    the file is smaller than with each alone, and unpack, open, slices all give them back."""
    from sckit import checkpoint as C
    from sckit.checkpoint import LAYOUT_KEY
    from sckit.container import Reader

    sd = _small_tensors()
    src = tmp_path / "small.safetensors"
    save_file(sd, src)
    rep = sckit.pack(src, tmp_path / "g.sck", progress=False)
    layout = json.loads(Reader(rep.path).metadata[LAYOUT_KEY])
    groups = layout["groups"]
    grouped = {n for members in groups.values() for n, _ in members}
    assert {f"b{i}.bias" for i in range(30)} <= grouped and "head" not in grouped
    assert all(sum(sd[n].numel() for n, _ in m) <= C.GROUP_WEIGHTS for m in groups.values())
    with Reader(rep.path) as r:
        assert all(r.ras(e).shape[0] == sum(sd[n].numel() for n, _ in m) for e, m in groups.items())
    # the same file with grouping off (every tensor its own entry) is larger
    old = C.GROUP_MAX_WEIGHTS
    try:
        C.GROUP_MAX_WEIGHTS = 0
        alone = sckit.pack(src, tmp_path / "alone.sck", progress=False)
    finally:
        C.GROUP_MAX_WEIGHTS = old
    assert "groups" not in json.loads(Reader(alone.path).metadata[LAYOUT_KEY])
    # (the verbatim safetensors header, ~6 KB of names here, is in both; measured 1,033 B saved)
    assert rep.output_bytes < alone.output_bytes - 600
    back = sckit.unpack(rep.path, tmp_path / "back.safetensors", progress=False)
    assert digest(back) == digest(src)
    pt = torch.load(sckit.unpack(rep.path, tmp_path / "back.pt", progress=False), weights_only=True)
    same_tensors(dict(sorted(pt.items())), dict(sorted(sd.items())))
    with sckit.open(rep.path) as f:
        same_tensors({k: f[k] for k in sd}, sd)
        for name in ("b7.conv", "b3.bias", "b29.norm"):
            t = sd[name]
            got = f.get_slice(name)[2:5]
            assert torch.equal(got.reshape(-1).view(torch.uint8), t[2:5].reshape(-1).view(torch.uint8))


def test_grouping_never_makes_a_file_larger(tmp_path):
    """Where one RAS for the group is not smaller than its members stored apart, pack stores
    them apart (here: incompressible random bit patterns)."""
    from sckit.checkpoint import LAYOUT_KEY
    from sckit.container import Reader

    g = torch.Generator().manual_seed(0)
    sd = {f"r{i}": torch.randint(-2**31, 2**31 - 1, (300,), generator=g, dtype=torch.int64)
          .to(torch.int32).view(torch.float32) for i in range(5)}
    src = tmp_path / "rand.safetensors"
    save_file(sd, src)
    rep = sckit.pack(src, tmp_path / "r.sck", progress=False)
    assert "groups" not in json.loads(Reader(rep.path).metadata[LAYOUT_KEY])
    assert digest(sckit.unpack(rep.path, tmp_path / "b.safetensors", progress=False)) == digest(src)


@pytest.mark.parametrize("case", ["unknown member", "twice", "overlap", "past the group",
                                  "entry is a tensor", "raw group"])
def test_forged_groups_are_format_errors(case, tmp_path):
    from sckit.checkpoint import LAYOUT_KEY
    from sckit.container import Writer
    from sckit.tensor_io import encode_tensor

    tensors = [["a", "F32", [4], None], ["b", "F32", [3], None]]
    groups = {"unknown member": {"G": [["a", 0], ["zz", 4]]},
              "twice": {"G": [["a", 0], ["a", 4]]},
              "overlap": {"G": [["a", 0], ["b", 2]]},
              "past the group": {"G": [["a", 0], ["b", 5]]},
              "entry is a tensor": {"a": [["b", 0]]},
              "raw group": {"G": [["a", 0], ["b", 4]]}}[case]
    layout = {"format": "torch", "tensors": tensors, "parts": {}, "groups": groups}
    path = tmp_path / "f.sck"
    with Writer(path, kind="checkpoint", metadata={LAYOUT_KEY: json.dumps(layout)}) as w:
        if case == "raw group":
            w.add_tensor("G", torch.zeros(7))
        else:
            w.add_tensor("G", ras=encode_tensor(torch.randn(7)))
    # (a member past its group's end: refused on open, with the layout, since it can be)
    match = "not encoded" if case == "raw group" else "malformed"
    with pytest.raises(FormatError, match=match):
        with sckit.open(path) as f:
            f["b"]
    with pytest.raises(FormatError, match=match):
        with sckit.open(path) as f:
            f.state_dict()
    with pytest.raises(FormatError, match=match):
        sckit.unpack(path, tmp_path / "x.pt", progress=False)


def _packed_small(tmp_path: Path) -> tuple[dict[str, torch.Tensor], sckit.checkpoint.PackReport]:
    sd = _small_tensors()
    save_file(sd, tmp_path / "small.safetensors")
    return sd, sckit.pack(tmp_path / "small.safetensors", tmp_path / "g.sck", progress=False)


def test_a_group_is_decoded_once_for_all_its_members(tmp_path, monkeypatch):
    """Reading every member decodes each group once (kept per opened file), not once per
    member: a group's chunk would be decoded again for each of its small tensors."""
    from sckit.container import Reader

    sd, rep = _packed_small(tmp_path)
    calls: list[str] = []
    real = Reader.ras
    monkeypatch.setattr(Reader, "ras", lambda self, name: calls.append(name) or real(self, name))
    with sckit.open(rep.path) as f:
        same_tensors({k: f[k] for k in sd}, sd)
    groups = [c for c in calls if c.startswith("::group[")]
    assert groups and len(groups) == len(set(groups))


def test_state_dict_decodes_each_group_once_into_disjoint_views(tmp_path, monkeypatch):
    """``f.state_dict()``: every tensor bit-exact; a group's members are views of one decode
    (no copy each), disjoint, and writable without touching each other or the file."""
    from sckit import checkpoint_store

    sd, rep = _packed_small(tmp_path)
    calls: list[str] = []
    real = checkpoint_store.decode_group
    monkeypatch.setattr(checkpoint_store, "decode_group",
                        lambda r, entry, name: calls.append(entry) or real(r, entry, name))
    with sckit.open(rep.path) as f:
        got = f.state_dict()
        assert list(got) == list(f)
        same_tensors(dict(sorted(got.items())), dict(sorted(sd.items())))
        assert calls and len(calls) == len(set(calls))  # each group decoded once
        a, b = got["b0.bias"], got["b1.bias"]
        # views of one decode: b sits exactly where the group layout puts it after a
        members = f._layout["members"]
        assert members["b0.bias"][0] == members["b1.bias"][0]
        assert b.data_ptr() - a.data_ptr() == 4 * (members["b1.bias"][1] - members["b0.bias"][1])
        a.add_(1.0)
        assert torch.equal(b, sd["b1.bias"])
        assert torch.equal(f["b0.bias"], sd["b0.bias"])  # the file is untouched


def test_reads_after_close_are_clear_errors(tmp_path):
    """A closed file says so (it raised numpy's 'offset must be non-negative' before), also
    for a state_dict whose read plan held the file's RAS."""
    sd, rep = _packed_small(tmp_path)
    f = sckit.open(rep.path)
    same_tensors(dict(sorted(f.state_dict().items())), dict(sorted(sd.items())))
    f.close()
    for read in (f.state_dict, lambda: f["head"], lambda: f.get_slice("head")[:2]):
        with pytest.raises(ValueError, match="closed"):
            read()


@pytest.mark.parametrize("case", ["entry missing", "part missing", "group missing",
                                  "alias to nothing", "order names nothing"])
def test_forged_layout_naming_absent_entries_is_format_error(case, tmp_path):
    """A layout that names tensors, row blocks, groups or tied targets the file does not hold
    is refused when the file is opened (it was a KeyError when the tensor was read)."""
    from sckit.checkpoint import LAYOUT_KEY
    from sckit.container import Writer
    from sckit.tensor_io import encode_tensor

    layout: dict = {"format": "torch", "tensors": [["a", "F32", [4], None]], "parts": {}}
    stored = "a"
    if case == "entry missing":
        stored = "x"
    elif case == "part missing":
        layout["parts"] = {"a": [["a::rows[0:4]", 0, 4]]}
    elif case == "group missing":
        layout["groups"] = {"::group[0]": [["a", 0]]}
    elif case == "alias to nothing":
        layout["aliases"] = {"b": "zz"}
    else:
        layout["order"] = ["a", "zz"]
    path = tmp_path / "f.sck"
    with Writer(path, kind="checkpoint", metadata={LAYOUT_KEY: json.dumps(layout)}) as w:
        w.add_tensor(stored, ras=encode_tensor(torch.randn(4)))
    with pytest.raises(FormatError, match="malformed"):
        sckit.open(path)
    with pytest.raises(FormatError, match="malformed"):
        sckit.unpack(path, tmp_path / "x.pt", progress=False)
