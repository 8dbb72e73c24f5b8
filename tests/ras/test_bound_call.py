"""Whole-tensor decodes through a kernel entry point bound once per RAS (``sckit.ras.bound_call``):
the bound call is taken, gives the same bits as the dispatcher, and is never handed an ``out``
of another type (unaligned, a subclass), which it would not check."""

from __future__ import annotations

import numpy as np
import pytest

from sckit import ras
from sckit.ras import bound_call, grammar


def _bits(layout: str, n: int = 3000, seed: int = 0) -> tuple[ras.RAS, np.ndarray]:
    x = (np.random.default_rng(seed).standard_normal(n) * 0.05).astype(np.float32)
    r = ras.encode(x.view(np.uint32).reshape(30, -1), dtype="float32", layout=layout)
    return r, x.view(np.uint32).reshape(30, -1)


def test_next_state_counts_down_then_binds() -> None:
    r, ref = _bits("wm", seed=3)
    r.decode()
    args = (*r.__dict__["_whole_call"][1], np.empty(grammar.SCRATCH, np.uint16),
            np.empty(ref.size, np.uint32))
    assert bound_call.next_state(2, grammar.decode_packed, args) == 1
    assert callable(bound_call.next_state(0, grammar.decode_packed, args))
    assert bound_call.next_state(0, grammar.decode_packed, (object(),)) == -1


def _entry(r: ras.RAS) -> object:
    return r._entry if hasattr(r, "_entry") else r.__dict__["_whole_call"][2]


@pytest.mark.parametrize("layout", ["wm", "bytegroup"])
def test_bound_entry_is_taken_and_exact(layout: str) -> None:
    r, ref = _bits(layout)
    assert np.array_equal(r.decode(), ref)  # first call: dispatcher only (a load decodes once)
    assert _entry(r) == bound_call.BIND_AFTER - 1
    assert np.array_equal(r.decode(), ref)  # second: dispatcher, then bound
    assert callable(_entry(r))
    for _ in range(3):  # bound calls, new arrays and a given out
        assert np.array_equal(r.decode(), ref)
    out = np.zeros_like(ref)
    assert r.decode(out=out) is out
    assert np.array_equal(out, ref)


@pytest.mark.parametrize("layout", ["wm", "bytegroup"])
def test_unaligned_out_goes_through_the_dispatcher(layout: str) -> None:
    r, ref = _bits(layout, seed=1)
    raw = np.zeros(ref.nbytes + 1, np.uint8)
    unaligned = raw[1:].view(np.uint32).reshape(ref.shape)
    assert not unaligned.flags.aligned
    # calls with an unaligned out: must not bind the entry point to the unaligned type
    for _ in range(3):
        assert np.array_equal(r.decode(out=unaligned), ref)
    assert _entry(r) == bound_call.BIND_AFTER
    for _ in range(2):
        assert np.array_equal(r.decode(), ref)
    assert callable(_entry(r))
    unaligned[...] = 0
    assert np.array_equal(r.decode(out=unaligned), ref)  # bound, but not used for this one


def test_out_ok_refuses_subclasses_and_unaligned() -> None:
    a = np.zeros(8, np.uint32)
    assert bound_call.out_ok(a)
    assert not bound_call.out_ok(a.view(np.matrix))
    assert not bound_call.out_ok(np.zeros(33, np.uint8)[1:].view(np.uint32))


def test_bind_finds_only_compiled_types() -> None:
    r, ref = _bits("wm", seed=2)
    r.decode()
    call = r.__dict__["_whole_call"][1]
    scratch = np.empty(grammar.SCRATCH, np.uint16)
    out = np.empty(ref.size, np.uint32)
    assert bound_call.bind(grammar.decode_packed, (*call, scratch, out)) is not None
    # another output dtype: never compiled, so no entry point (the caller keeps the dispatcher)
    assert bound_call.bind(grammar.decode_packed, (*call, scratch, out.view(np.float32))) is None
    assert bound_call.bind(grammar.decode_packed, (object(),)) is None


def test_packed_tables_round_trip() -> None:
    tabs = [np.arange(k, dtype=np.int64) for k in (3, 0, 5, 1, 2, 2, 4, 1, 1, 3)]
    packed = grammar.pack_tables(*tabs)
    o = packed[: grammar.N_PACKED + 1]
    for i, t in enumerate(tabs):
        assert np.array_equal(packed[o[i]:o[i + 1]], t)


@pytest.mark.parametrize("layout", ["wm", "bytegroup"])
def test_decode_tensor_into_an_unaligned_tensor(layout: str) -> None:
    """``decode_tensor(out=)`` skips the RAS's own out checks (it checked the tensor), so it
    must still keep an unaligned tensor (a view of unaligned numpy memory) off the bound entry
    point."""
    import torch

    from sckit.tensor_io import decode_tensor, encode_tensor

    src = torch.randn(30, 100, generator=torch.Generator().manual_seed(4)) * 0.05
    r = encode_tensor(src, layout=layout)
    raw = np.zeros(src.numel() * 4 + 1, np.uint8)
    t = torch.from_numpy(raw[1:].view(np.float32).reshape(30, 100))
    assert not t.numpy().flags.aligned
    for _ in range(3):
        t.zero_()
        assert decode_tensor(r, out=t) is t
        assert torch.equal(t.view(torch.int32), src.view(torch.int32))
    assert _entry(r) == bound_call.BIND_AFTER
    for _ in range(3):  # aligned ones bind it, and the unaligned one still decodes apart
        assert torch.equal(decode_tensor(r).view(torch.int32), src.view(torch.int32))
    assert callable(_entry(r))
    t.zero_()
    decode_tensor(r, out=t)
    assert torch.equal(t.view(torch.int32), src.view(torch.int32))
