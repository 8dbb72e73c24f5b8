"""The byte-grouped RAS layout: bit-exact decoding, row ranges, access, loading, corruption."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sckit.errors import FormatError
from sckit.ras import RAS, encode
from sckit.ras.bytegroup import CHUNK, ByteGroupRAS, load_layout
from sckit.tensor_io import decode_tensor, encode_tensor

INT = {torch.float32: torch.int32, torch.bfloat16: torch.int16, torch.float16: torch.int16,
       torch.int16: torch.int16, torch.int8: torch.int8}
UINT = {4: np.uint32, 2: np.uint16, 1: np.uint8}
# the coded field of each float: (shift, mask)
SYMBOL_FIELD = {"float32": (23, 0xFF), "bfloat16": (7, 0xFF), "float16": (8, 0x7F)}


def _bits(t: torch.Tensor) -> np.ndarray:
    return t.contiguous().view(INT[t.dtype]).numpy().view(UINT[t.element_size()])


def _weights(shape, dtype, seed=0, sigma=0.02, special=True) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = (torch.randn(tuple(shape), generator=g) * sigma).to(dtype)
    if special and t.numel() >= 6:
        flat = t.view(-1)
        vals = [float("nan"), -0.0, float("inf"), float("-inf"), 1e-40, -3.0e38]
        flat[:6] = torch.tensor(vals).to(dtype)
    return t


def _check_all(r: RAS, t: torch.Tensor) -> None:
    want = _bits(t)
    assert np.array_equal(_bits(decode_tensor(r)), want)
    back = RAS.from_bytes(r.to_bytes())
    assert type(back) is type(r) and len(r.to_bytes()) == r.nbytes
    assert np.array_equal(_bits(decode_tensor(back)), want)
    if t.ndim:
        n0 = t.shape[0]
        for a, b in ((0, n0), (n0 // 3, n0 // 3 + 1), (n0 // 2, n0)):
            assert np.array_equal(r.decode_rows(a, b), want[a:b])
    idx = [tuple(int(i) for i in np.unravel_index(k, t.shape)) for k in (0, t.numel() - 1,
                                                                         t.numel() // 2)]
    for i in idx:
        assert r.access_bits(i) == int(want[i])
        v = r.access(i)  # the value, of the tensor's dtype (a float for bfloat16)
        got = np.float32(v).view(np.uint32) >> 16 if t.dtype == torch.bfloat16 else \
            np.asarray(v).view(want.dtype)
        assert int(got) == int(want[i])
    if t.ndim:
        ia = np.array(idx)
        assert np.array_equal(r.access_many_bits(ia), np.array([want[i] for i in idx]))
        vals = r.access_many(ia)
        vb = vals.view(np.uint32) >> 16 if t.dtype == torch.bfloat16 else vals.view(want.dtype)
        assert np.array_equal(vb, np.array([want[i] for i in idx]))


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([torch.float32, torch.bfloat16, torch.float16]),
       st.lists(st.integers(1, 40), min_size=0, max_size=4),
       st.sampled_from(["block", "element"]), st.sampled_from([None, True, False]),
       st.floats(1e-4, 10.0), st.integers(0, 2**16))
def test_round_trip_random_shapes(dtype, shape, kind, pairs, sigma, seed):
    t = _weights(tuple(shape), dtype, seed, sigma)
    bits = _bits(t)
    from sckit.ras.bytegroup import encode_bytegroup
    from sckit.ras.fields import split_for

    name = str(dtype).removeprefix("torch.")
    before = bits.copy()
    shift, mask = SYMBOL_FIELD[name]
    if pairs is True and len(np.unique((bits.reshape(-1) >> shift) & mask)) > 64:
        pairs = None
    r = encode_bytegroup(bits.reshape(-1), split_for(name), tuple(shape), kind, pairs=pairs)
    assert np.array_equal(bits, before)  # the input is never modified
    assert r.kind == kind and r.shape == tuple(shape) and r.dtype == name
    if pairs is not None:
        assert r.pairs == pairs
    _check_all(r, t)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("n", [2047, 2048, 2049, 4097, 4 * CHUNK - 1, 4 * CHUNK + 1,
                               9 * CHUNK - 3, 13 * CHUNK])
def test_many_chunks_and_odd_tails(dtype, n):
    from sckit.ras.bytegroup import chunk_for, encode_bytegroup
    from sckit.ras.fields import split_for

    t = _weights((n,), dtype, seed=n)
    if dtype == torch.float16:  # values in +-[1/8, 4): high bytes (sign, exponent, 2 mantissa
        # bits) within the 64 symbols of pair codes
        g = torch.Generator().manual_seed(n)
        t = (torch.rand(n, generator=g) * 3.9 + 0.125) * torch.randn(n, generator=g).sign()
        t = t.to(dtype)
    assert chunk_for(n) % 2 == 0 and (n < 2048 or -(-n // chunk_for(n)) >= 4)
    for pairs in (False, True):
        r = encode_bytegroup(_bits(t), split_for(str(dtype).removeprefix("torch.")), (n,),
                             "block", pairs=pairs)
        assert r.pairs == pairs
        assert isinstance(r, ByteGroupRAS)
        r2 = ByteGroupRAS.from_arrays(*r.to_arrays())
        want = _bits(t)
        assert np.array_equal(r2.decode(), want)
        acc = r2.accessor()
        for i in range(max(0, n - 3 * CHUNK), n, 97):
            assert acc.access_bits(i) == int(want[i])
        assert acc.hits > 0 and acc.misses >= 1
        for a, b in ((1, n - 1), (n // 3, n // 3 + 5), (n // 4 - 1, 3 * n // 4 + 1)):
            assert np.array_equal(r2.decode_rows(a, b), want[a:b])


def test_long_code_words_use_the_second_table_level():
    # a geometric spread of exponents: rare exponents get code words longer than 12 bits
    rng = np.random.default_rng(0)
    e = np.minimum(rng.geometric(0.5, 300_000), 40).astype(np.uint32) + 80
    bits = (e << 23) | rng.integers(0, 1 << 23, e.size, dtype=np.uint32)
    r = encode(bits.reshape(300, 1000), dtype="float32", layout="bytegroup")
    assert int(r.lengths.max()) > 12
    assert np.array_equal(r.decode().reshape(-1), bits)
    assert np.array_equal(r.decode_rows(17, 251).reshape(-1), bits[17_000:251_000])


@pytest.mark.parametrize("dtype", [torch.int8, torch.float16, torch.float32, torch.bfloat16])
def test_codebook_tensors(dtype):
    g = torch.Generator().manual_seed(1)
    levels = (torch.randn(200, generator=g) * 0.1)
    idx = torch.randint(0, 200, (300, 70), generator=g)
    t = (idx - 100).to(torch.int8) if dtype == torch.int8 else levels[idx].to(dtype)
    r = encode_tensor(t, layout="bytegroup")
    assert isinstance(r, ByteGroupRAS) and r.codebook is not None and r.codebook.size <= 200
    _check_all(r, t)
    auto = encode_tensor(t)
    assert np.array_equal(_bits(decode_tensor(auto)), _bits(t))


def _many_levels(k: int, shape, dtype, seed=0) -> torch.Tensor:
    """``k`` distinct finite values of ``dtype`` (drawn as bit patterns, so none merge when
    rounded), each weight one of them."""
    rng = np.random.default_rng(seed)
    if dtype == torch.float32:
        levels = (rng.standard_normal(4 * k) * 0.05).astype(np.float32).view(np.uint32)
        levels = np.unique(levels)[:k]
    else:  # the 16-bit patterns below the infinities, both signs
        finite = np.concatenate([np.arange(0, 0x7C00), np.arange(0x8000, 0xFC00)])
        levels = rng.choice(finite, k, replace=False).astype(np.uint16)
    pat = levels[rng.integers(0, k, shape)]
    return torch.from_numpy(pat.view(np.int32 if dtype == torch.float32 else np.int16)).view(dtype)


@pytest.mark.parametrize("dtype", [torch.int16, torch.float16, torch.float32, torch.bfloat16])
@pytest.mark.parametrize("k,shape", [(257, (40, 50)), (1000, (3, 700)), (5000, (4 * CHUNK + 3,)),
                                     (40_000, (300, 301))])
def test_wide_codebook_tensors(dtype, k, shape):
    """257 .. 2**16 distinct values: the index's high byte coded, its low byte raw ("wide")."""
    if dtype == torch.int16:
        g = torch.Generator().manual_seed(2)
        t = torch.randint(-(k // 2), k - k // 2, shape, generator=g).to(torch.int16)
    else:
        t = _many_levels(k, shape, dtype)
    n_cb = torch.unique(t.view(INT[dtype])).numel()
    assert 256 < n_cb <= k
    r = encode(_bits(t), dtype={torch.int16: "int16", torch.float16: "float16"}.get(dtype) or
               str(dtype).removeprefix("torch."), layout="bytegroup", codebook=True)
    assert isinstance(r, ByteGroupRAS) and r.wide and r.codebook.size == n_cb
    _check_all(r, t)
    back = RAS.from_bytes(r.to_bytes())
    assert back.wide and back.h0_bits == pytest.approx(r.h0_bits, rel=1e-12)
    assert sum(r.space().values()) == r.nbytes
    assert r.space()["codebook"] >= n_cb * t.element_size()


def test_wide_codebook_beats_the_deep_tree():
    """Many distinct values (a fixed basis, a fine quantization grid): the wavelet matrix's
    tree is ~14 levels deep; auto takes the wide byte-grouped form, here also smaller."""
    t = _many_levels(10_000, (256, 257), torch.float32)
    wm = encode_tensor(t, layout="wm")
    assert wm.codebook is not None and wm.wm.sigma > 4096
    auto = encode_tensor(t)
    assert isinstance(auto, ByteGroupRAS) and auto.wide and auto.nbytes < wm.nbytes
    assert np.array_equal(_bits(decode_tensor(auto)), _bits(t))


def test_wide_codebook_loading_is_checked():
    t = _many_levels(3000, (100, 100), torch.float32)
    meta, arrays = encode_tensor(t, layout="bytegroup").to_arrays()
    meta, arrays = dict(meta), {k: np.array(v) for k, v in arrays.items()}
    assert meta["codebook_entries"] == torch.unique(t).numel()
    for key, value in [("codebook_entries", 256), ("codebook_entries", 1 << 17),
                       ("codebook_entries", "3000"), ("codebook_entries", 1000)]:
        m = dict(meta)
        m[key] = value
        with pytest.raises(FormatError, match="codebook_entries|words|symbols"):
            RAS.from_arrays(m, arrays)
    m = dict(meta)
    m["codebook"] = False
    with pytest.raises(FormatError, match="codebook_entries"):
        RAS.from_arrays(m, arrays)
    a = dict(arrays)
    a["words"] = a["words"][:-1]
    with pytest.raises(FormatError, match="words"):
        RAS.from_arrays(meta, a)
    # a forged symbol table whose high bytes stop short of the codebook's: the decode runs on
    # (some tensor, or a FormatError), it does not fail inside numpy
    r = RAS.from_arrays(meta, arrays)
    a = dict(arrays)
    a["symbols"] = np.concatenate([r.alpha[:-1], r.q[:-1]])  # the alphabet listed (version 1)
    try:
        assert RAS.from_arrays({**meta, "version": 1}, a).decode().shape == (100, 100)
    except FormatError:
        pass


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**9), st.integers(1, 40))
def test_wide_codebook_flipped_bytes_never_crash(seed, n_flips):
    """Forged code bits or low bytes name indices past the codebook: the decode stays inside
    its padded table (some tensor comes out, or a FormatError), never out of bounds."""
    meta, arrays = encode_tensor(_many_levels(3000, (5 * CHUNK + 7,), torch.float32),
                                 layout="bytegroup").to_arrays()
    _flip_and_decode(meta, {k: np.array(v) for k, v in arrays.items()}, seed, n_flips)


def test_auto_keeps_the_smaller_layout():
    t = _weights((256, 300), torch.float32)
    wm = encode_tensor(t, layout="wm")
    bg = encode_tensor(t, layout="bytegroup")
    auto = encode_tensor(t)
    assert auto.nbytes == min(wm.nbytes, bg.nbytes)
    assert isinstance(auto, ByteGroupRAS) == (bg.nbytes < wm.nbytes)
    pruned = t.clone()
    pruned[pruned.abs() < 0.03] = 0  # ~87% zeros: the sparse wavelet matrix wins
    r = encode_tensor(pruned)
    assert r.sparse and not isinstance(r, ByteGroupRAS)
    assert encode(_bits(t), dtype="float32").wm is not None  # sckit.ras.encode: the paper's form


def test_slow_wavelet_matrix_gives_way_when_sizes_are_close():
    """Signs tied to exponents over 136 exponents: the wavelet matrix keeps the sign in its
    272-symbol alphabet (smaller, but ~7.4 bits per weight of levels to walk); auto takes the
    byte-grouped form, at most 3% larger."""
    from sckit.ras.encoder import SPEED_SIZE_SLACK

    rng = np.random.default_rng(0)
    e = rng.integers(0, 136, 1 << 17).astype(np.uint32)
    b = ((e & 1) << 31) | ((e + 1) << 23) | rng.integers(0, 1 << 23, e.size, dtype=np.uint32)
    t = torch.from_numpy(b.view(np.float32).copy()).reshape(256, 512)
    wm = encode_tensor(t, layout="wm")
    assert not wm.sign_raw and wm.wm.sigma > 256
    auto = encode_tensor(t)
    assert isinstance(auto, ByteGroupRAS) and wm.nbytes < auto.nbytes <= SPEED_SIZE_SLACK * wm.nbytes
    assert np.array_equal(_bits(decode_tensor(auto)), b.reshape(256, 512))


def test_smaller_than_wavelet_matrix_on_gaussian_weights():
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        t = _weights((512, 512), dtype, special=False)
        bg = encode_tensor(t, layout="bytegroup")
        wm = encode_tensor(t, layout="wm")
        assert bg.nbytes < wm.nbytes
        assert bg.bits_per_weight < bg.h0_bits + 0.06  # within 0.06 bits of the order-0 bound
        assert encode_tensor(t).layout_name == "bytegroup"  # what compress keeps


def test_float16_high_byte_form_where_sign_and_magnitude_go_together():
    """float16's other form codes the whole high byte (sign, exponent, top mantissa bits):
    smaller where signs follow magnitudes (large weights positive, small ones negative), and
    what the encoder keeps there; read back bit-exactly, through a file, in ranges."""
    from sckit.ras import bytegroup as B

    g = torch.Generator().manual_seed(4)
    w = torch.randn(300, 700, generator=g) * 0.02
    t = torch.where(torch.rand(w.shape, generator=g) < 0.5, w.abs(), -w.abs() * 1e-2).half()
    bits = _bits(t).reshape(-1)
    hb = B.encode_bytegroup(bits, r_split("float16"), t.shape, "block", f16_form="high_byte")
    sp = B.encode_bytegroup(bits, r_split("float16"), t.shape, "block", f16_form="sign_plane")
    assert (hb.f16_form, sp.f16_form) == ("high_byte", "sign_plane")
    assert hb.hi is None and hb.raw_bits == 8 and not hb.sign_raw
    assert hb.nbytes < 0.99 * sp.nbytes
    auto = encode_tensor(t)
    assert isinstance(auto, ByteGroupRAS) and auto.f16_form == "high_byte"
    assert auto.nbytes == hb.nbytes and auto.to_arrays()[0]["f16_form"] == "high_byte"
    _check_all(auto, t)
    out = np.empty(5000, np.uint16)
    auto._range(12_345, 17_345, out)
    assert np.array_equal(out, bits[12_345:17_345])
    with pytest.raises(ValueError, match="float16"):
        B.encode_bytegroup(_bits(w).reshape(-1), r_split("float32"), w.shape, "block",
                           f16_form="high_byte")
    with pytest.raises(ValueError, match="f16_form"):
        B.encode_bytegroup(bits, r_split("float16"), t.shape, "block", f16_form="bytes")
    meta, arrays = encode_tensor(w, layout="bytegroup").to_arrays()
    meta["f16_form"] = "high_byte"
    with pytest.raises(FormatError, match="f16_form"):
        load_layout(meta, arrays)
    meta, arrays = auto.to_arrays()
    for bad in ("sign", 3, None):
        with pytest.raises(FormatError, match="f16_form"):
            load_layout({**meta, "f16_form": bad}, arrays)


def _f16_encode(t: torch.Tensor, form: str) -> ByteGroupRAS:
    from sckit.ras.bytegroup import encode_bytegroup

    return encode_bytegroup(_bits(t).reshape(-1), r_split("float16"), tuple(t.shape), "block",
                            f16_form=form)


def r_split(name: str):
    from sckit.ras.fields import split_for

    return split_for(name)


def test_pair_codes_where_they_pay():
    """Pair codes are kept where smaller on small tensors (decode time there is fixed cost),
    and from PAIR_MIN_N weights on only where they save PAIR_MIN_GAIN bits per weight: they
    decode slower."""
    from sckit.ras import bytegroup as B

    for shape, want in (((60, 100), True), ((512, 512), False)):  # 6K / 262K weights
        t = _weights(shape, torch.bfloat16, special=False)
        r = encode_tensor(t, layout="bytegroup")
        assert r.pairs is want, shape
        p = B.encode_bytegroup(_bits(t).reshape(-1), r.split, shape, "block", pairs=True)
        s1 = B.encode_bytegroup(_bits(t).reshape(-1), r.split, shape, "block", pairs=False)
        assert p.nbytes < s1.nbytes  # smaller, but by less than the gain asked for big ones
        assert (s1.nbytes - p.nbytes) * 8 < B.PAIR_MIN_GAIN * t.numel() or want
    # two values, 90% / 10%: one-symbol codes spend 1 bit per weight, pairs ~0.65; kept on a
    # big tensor
    g = torch.Generator().manual_seed(3)
    q = torch.where(torch.rand(512, 512, generator=g) < 0.9, 0.0, 0.05)
    rq = encode_tensor(q, layout="bytegroup")
    assert rq.codebook is not None and rq.pairs and rq.bits_per_weight < 0.8


@pytest.mark.parametrize("form", ["sign_plane", "high_byte", "exponent"])
def test_float16_forms_are_bit_exact(form):
    """Each float16 form (sckit.ras.bytegroup_f16) on every bit pattern (NaN payloads,
    infinities, -0.0, subnormals) and on trained-like weights: whole decodes, through a file,
    and ranges of every start and length (the raw planes' bytes hold 8 weights: unaligned
    heads and tails)."""
    from sckit.ras import bytegroup as B
    from sckit.ras import bytegroup_f16 as F

    rng = np.random.default_rng(5)
    every = np.arange(1 << 16, dtype=np.uint16)  # each pattern once, then shuffled in
    bits = np.concatenate([every, rng.permutation(every)]).reshape(512, 256)
    t = torch.from_numpy(bits.view(np.int16).copy()).view(torch.float16)
    r = B.encode_bytegroup(bits.reshape(-1), r_split("float16"), t.shape, "block", f16_form=form)
    assert r.f16_form == form and r.raw_bits == F.RAW_BITS[form] and not r.pairs
    assert r.alpha.size == {"sign_plane": 128, "high_byte": 256, "exponent": 32}[form]
    flat = bits.reshape(-1)
    assert np.array_equal(r.lo, flat & 0xFF)

    def plane(bit):
        return np.packbits(((flat >> bit) & 1).astype(np.uint8), bitorder="little")

    if form == "sign_plane":
        assert np.array_equal(r.hi, plane(15))
    if form == "exponent":  # three bit planes: signs, mantissa bits 9, mantissa bits 8
        assert np.array_equal(r.hi, np.concatenate([plane(15), plane(9), plane(8)]))
    assert 16.0 <= r.bits_per_weight < 16.05 and r.h0_bits == pytest.approx(16.0)
    _check_all(r, t)
    w = _weights((3, 4099), torch.float16, special=False)
    want = _bits(w).reshape(-1)
    rw = B.encode_bytegroup(want, r_split("float16"), w.shape, "block", f16_form=form)
    if form == "sign_plane":  # <= 64 symbols: pair codes on a small tensor
        assert rw.pairs and rw.alpha.size <= 64
    for e0 in range(0, 19):
        for e1 in (e0 + 1, e0 + 7, e0 + 8, e0 + 9, e0 + 4099, w.numel() - 3, w.numel()):
            if e0 < e1 <= w.numel():
                out = np.empty(e1 - e0, np.uint16)
                rw._range(e0, e1, out)
                assert np.array_equal(out, want[e0:e1]), (e0, e1)
    _check_all(rw, w)


def test_float16_form_choice_and_refusals():
    """The encoder keeps the smaller form (ties: the sign plane), or the exponent form on a
    large tensor where it costs little; the loader refuses a zero skip in other forms than
    the high byte."""
    from sckit.ras import bytegroup_f16 as F

    rng = np.random.default_rng(5)
    bits = rng.integers(0, 1 << 16, 1 << 17, dtype=np.uint16)
    t = torch.from_numpy(bits.view(np.int16).copy()).view(torch.float16).reshape(256, 512)
    r = encode_tensor(t, layout="bytegroup")
    # random bits: every form is 16 bits per weight; the exponent form decodes fastest
    assert isinstance(r, ByteGroupRAS) and r.f16_form == "exponent" and r.sign_raw
    auto = encode_tensor(t)  # random bits: the byte-grouped form is also the smaller
    assert isinstance(auto, ByteGroupRAS) and auto.nbytes < encode_tensor(t, layout="wm").nbytes
    for g in (_weights((512, 512), torch.float16, special=False),
              _weights((20, 500), torch.float16, special=False)):
        sizes = {f: _f16_encode(g, f).nbytes for f in F.FORMS}
        assert encode_tensor(g, layout="bytegroup").nbytes == min(sizes.values())
    # randomly pruned float16 (tiny subnormals survive beside the zeros) takes the zero skip
    # too, its positive subnormals under a symbol of their own
    p = _weights((300, 300), torch.float16, special=False)
    p[torch.rand(p.shape, generator=torch.Generator().manual_seed(0)) < 0.8] = 0
    assert bool(((p != 0) & (p.abs() < 2 ** -14)).any())
    rp = encode_tensor(p, layout="bytegroup")
    assert rp.zero_skip and rp.n_raw == int((p != 0).sum())
    _check_all(rp, p)
    g = _weights((512, 512), torch.float16, special=False)
    for form in F.FORMS:
        meta, arrays = _f16_encode(g, form).to_arrays()
        assert ("f16_form" in meta) is (form != "sign_plane")  # (the default form: no key)
        meta["zero_skip_raw"] = g.numel()
        # only the high-byte form has a zero skip, and it needs its raw offsets
        with pytest.raises(FormatError, match="raw_at" if form == "high_byte"
                           else "zero_skip_raw"):
            load_layout(meta, arrays)


def test_gpu_kernels_leave_it_to_the_cpu():
    from sckit.backends.float_fields import supports

    t = _weights((64, 64), torch.float32)
    assert not supports(encode_tensor(t, layout="bytegroup"))
    assert supports(encode_tensor(t, layout="wm"))


def test_bad_arguments():
    with pytest.raises(ValueError, match="layout"):
        encode(np.zeros(4, np.float32), layout="zip")
    with pytest.raises(ValueError, match="bytegroup"):  # > 2**16 distinct int32 values
        encode(np.arange(70_000, dtype=np.int32), layout="bytegroup")
    with pytest.raises(ValueError, match="float32"):
        encode(np.zeros(4, np.float64), layout="bytegroup", codebook=False)


# ---------------------------------------------------------------------- loading untrusted data


def _parts(n=3 * CHUNK + 5, dtype=torch.float32):
    r = encode_tensor(_weights((n,), dtype), layout="bytegroup")
    meta, arrays = r.to_arrays()
    return dict(meta), {k: np.array(v) for k, v in arrays.items()}


@pytest.mark.parametrize("field,value", [
    ("version", 0), ("version", 3), ("layout", "zip"), ("kind", "row"), ("dtype", "float64"), ("dtype", 3),
    ("shape", [-1]), ("shape", [0]), ("shape", "12"), ("codebook", 1), ("pairs", None),
    ("total_bits", -5), ("total_bits", 10**12), ("total_bits", 1.5),
])
def test_bad_meta_is_a_format_error_naming_the_field(field, value):
    meta, arrays = _parts()
    meta[field] = value
    with pytest.raises(FormatError, match=field if field != "layout" else "layout"):
        RAS.from_arrays(meta, arrays)


def test_bad_arrays_are_format_errors():
    meta, arrays = _parts()
    for name, bad, what in [
        ("words", arrays["words"][:-1], "words"),
        ("words", arrays["words"].view(np.uint32), "words"),
        ("sel", arrays["sel"][::-1].copy(), "sel"),
        ("sel", arrays["sel"].astype(np.uint64), "sel"),
        ("sel", arrays["sel"][:-1], "sel"),
        ("symbols", arrays["symbols"][::-1].copy(), "symbols"),
        ("symbols", arrays["symbols"][:-1], "symbols"),
    ]:
        a = dict(arrays)
        a[name] = bad
        with pytest.raises(FormatError, match=what):
            RAS.from_arrays(meta, a)
    a = dict(arrays)
    del a["sel"]
    with pytest.raises(FormatError, match="sel"):
        RAS.from_arrays(meta, a)
    with pytest.raises(FormatError, match="layout"):
        load_layout({"layout": "other"}, arrays)


def test_order0_bound_recomputed_after_loading():
    t = _weights((300, 200), torch.float32)
    r = encode_tensor(t, layout="bytegroup")
    back = RAS.from_bytes(r.to_bytes())
    assert back.h0_bits == pytest.approx(r.h0_bits, rel=1e-12)
    assert 24 < r.h0_bits < r.bits_per_weight
    cb = encode_tensor((torch.arange(600) % 7).reshape(20, 30).to(torch.int8), layout="bytegroup")
    assert RAS.from_bytes(cb.to_bytes()).h0_bits == pytest.approx(cb.h0_bits, rel=1e-12)
    assert sum(r.space().values()) == r.nbytes


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**9), st.integers(1, 40))
def test_flipped_code_bits_never_crash(seed, n_flips):
    """A forged stream decodes to some tensor or raises FormatError: never reads out of bounds."""
    _flip_and_decode(*_parts(5 * CHUNK + 7), seed, n_flips)


def _flip_and_decode(meta, arrays, seed: int, n_flips: int) -> None:
    """Flip ``n_flips`` random bytes of the stored words, then decode whole and a row range:
    some tensor of the right shape comes out, or a FormatError."""
    rng = np.random.default_rng(seed)
    w = arrays["words"].view(np.uint8)
    pos = rng.integers(0, w.size - 8, n_flips)
    w[pos] ^= rng.integers(1, 256, n_flips).astype(np.uint8)
    r = RAS.from_arrays(meta, arrays)
    try:
        assert r.decode().shape == r.shape
        r.decode_rows(CHUNK, 3 * CHUNK)
    except FormatError:
        pass


def test_container_round_trip(tmp_path):
    """A SuccinctModel holding byte-grouped RAS saves and loads through the container."""
    from torch import nn

    import sckit

    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(128, 256), nn.ReLU(), nn.Linear(256, 10)).eval()
    x = torch.randn(2, 128)
    sm = sckit.compress(m, x)
    assert any(isinstance(r, ByteGroupRAS) for r in sm.ras.values())
    path = tmp_path / "m.sckit"
    sckit.save(sm, path)
    loaded = sckit.load(path, nn.Sequential(nn.Linear(128, 256), nn.ReLU(), nn.Linear(256, 10)))
    for name, p in m.named_parameters():
        got = dict(loaded.to_dense().named_parameters())[name]
        assert torch.equal(got.view(torch.int32), p.detach().view(torch.int32))


def test_wide_codebook_model_compresses_runs_and_round_trips(tmp_path):
    """A layer quantized to 1,000 levels (more than a byte indexes): sckit.compress takes the
    wide byte-grouped form, runs bit-identical to the source, and saves / loads bit-exactly."""
    from torch import nn

    import sckit

    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(128, 256), nn.ReLU(), nn.Linear(256, 10)).eval()
    with torch.no_grad():  # a fine (10-bit) grid on the first layer
        w = m[0].weight
        levels = torch.linspace(float(w.min()), float(w.max()), 1000)
        w.copy_(levels[torch.bucketize(w, levels).clamp(max=999)])
    x = torch.randn(3, 128)
    sm = sckit.compress(m, x)
    r = sm.ras["0.weight"]
    assert isinstance(r, ByteGroupRAS) and r.wide and 256 < r.codebook.size <= 1000
    assert torch.equal(sm(x).view(torch.int32), m(x).view(torch.int32))
    sckit.save(sm, tmp_path / "m.sckit")
    loaded = sckit.load(tmp_path / "m.sckit", nn.Sequential(nn.Linear(128, 256), nn.ReLU(),
                                                           nn.Linear(256, 10)))
    assert loaded.ras["0.weight"].wide
    assert torch.equal(loaded(x).view(torch.int32), m(x).view(torch.int32))


@pytest.mark.parametrize("codebook", ["auto", True])
def test_constant_tensors(codebook):
    """One distinct value: the code gets an unused sibling symbol (a complete code)."""
    for dtype in (torch.float32, torch.bfloat16, torch.int8):
        t = torch.full((3, 5000), 7, dtype=dtype)
        r = encode_tensor(t, layout="bytegroup", codebook=codebook)
        assert r.alpha.size == 2
        back = RAS.from_bytes(r.to_bytes())
        assert torch.equal(decode_tensor(back), t) and torch.equal(decode_tensor(r), t)


@pytest.mark.parametrize("seed", range(4))
def test_loader_tables_are_the_encoders(seed: int) -> None:
    """The loader derives code lengths and the decoding table in one kernel
    (``bytegroup_kernels.load_tables``); they must be exactly the encoder's (numpy
    ``code_lengths`` + ``canonical_codes`` + ``build_lut``), or a file decodes to other bytes."""
    from sckit.ras import bytegroup as B
    from sckit.ras import bytegroup_kernels as K

    rng = np.random.default_rng(seed)
    for _ in range(100):
        pairs = bool(rng.integers(2))
        d = int(rng.integers(2, B.MAX_PAIR_ALPHABET + 1 if pairs else 257))
        q = rng.integers(0, 256, d).astype(np.uint8)
        alpha = np.sort(rng.choice(256, d, replace=False)).astype(np.uint8)
        lut_bits = int(rng.choice([6, 9, K.LUT_BITS]))
        lengths = B.code_lengths(q, pairs)
        out_bytes = (np.ascontiguousarray(np.stack([np.repeat(alpha, d), np.tile(alpha, d)], 1).reshape(-1))
                     if pairs else alpha)
        lut = K.build_lut(lengths, K.canonical_codes(lengths), out_bytes, 2 if pairs else 1, lut_bits)
        got_lengths, got_lut = K.load_tables(q, alpha, pairs, B.MAX_CODE_LENGTH, lut_bits, B._POW16)
        assert np.array_equal(got_lengths, lengths) and got_lengths.dtype == lengths.dtype
        assert np.array_equal(got_lut, lut) and got_lut.dtype == lut.dtype


@pytest.mark.parametrize("n", [5 * CHUNK, 6 * CHUNK, 7 * CHUNK - 2, 5 * CHUNK + 100, 5 * CHUNK + 7])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_ranges_over_the_last_chunks_decode_bit_exactly(n: int, dtype: torch.dtype) -> None:
    """Two or three chunks left over are decoded by a four-stream pass over the last four (or
    one at a time when the last chunk is short): every range, wherever it starts and ends, is
    the whole decode's slice, bit for bit."""
    g = torch.Generator().manual_seed(n)
    t = (torch.randn(n, generator=g) * 0.05).to(dtype)
    r = encode_tensor(t)
    assert isinstance(r, ByteGroupRAS) and r.starts.size >= 5
    whole = r.decode()
    assert np.array_equal(whole, t.view(torch.int16 if dtype == torch.bfloat16 else torch.int32)
                          .numpy().view(whole.dtype))
    rng = np.random.default_rng(n)
    edges = [0, 1, CHUNK - 1, CHUNK, 2 * CHUNK + 3, n - 3 * CHUNK - 5, n - 2 * CHUNK, n - CHUNK + 1,
             n - 100, n - 1, n]
    pairs = [(a, b) for a in edges for b in edges if 0 <= a < b <= n]
    pairs += [tuple(sorted(rng.integers(0, n + 1, 2))) for _ in range(40)]
    for e0, e1 in pairs:
        if e1 <= e0:
            continue
        out = np.empty(e1 - e0, whole.dtype)
        r._range(int(e0), int(e1), out)
        assert np.array_equal(out, whole[e0:e1]), (e0, e1)


# ---------------------------------------------------------------------- the stored alphabet


def _as_version_1(r: ByteGroupRAS) -> tuple[dict, dict]:
    """``r``'s meta and arrays with the alphabet listed, as files of version 1 store it."""
    meta, arrays = r.to_arrays()
    tail = [np.array([r.codebook.size - 1], np.uint8)] if r.codebook is not None and not r.wide else []
    return {**meta, "version": 1}, {**arrays, "symbols": np.concatenate([r.alpha, r.q, *tail])}


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.bfloat16])
def test_alphabet_map_where_smaller_and_version_1_still_loads(dtype):
    """A narrow, nearly full alphabet (trained weights' exponents; float16's exponent and top
    mantissa bits) is stored as a bit map of its range, version 2; the same RAS stored with
    its alphabet listed (version 1, files of earlier releases) loads to the same weights."""
    t = _weights((40, 300), dtype, special=False)
    r = encode_tensor(t, layout="bytegroup")
    meta, arrays = r.to_arrays()
    d, span = r.alpha.size, int(r.alpha[-1]) - int(r.alpha[0]) + 1
    assert meta["version"] == 2 and 2 + -(-span // 8) < d
    m1, a1 = _as_version_1(r)
    assert a1["symbols"].nbytes - arrays["symbols"].nbytes == d - (2 + -(-span // 8))
    for m, a in ((meta, arrays), (m1, a1)):
        got = RAS.from_arrays(m, a)
        assert np.array_equal(got.alpha, r.alpha) and np.array_equal(got.q, r.q)
        assert np.array_equal(_bits(decode_tensor(got)), _bits(t))


def test_sparse_alphabet_stays_listed():
    """Two symbols far apart (a 2-level codebook of a binary mask, say): a map of their range
    would cost more than the list, so version 1 is kept."""
    t = torch.tensor([0.0, 1e30] * 5000, dtype=torch.float32)
    r = encode_tensor(t, layout="bytegroup", codebook=False)
    meta, _ = r.to_arrays()
    assert meta["version"] == 1 and r.alpha.size == 2
    assert np.array_equal(_bits(decode_tensor(RAS.from_arrays(*r.to_arrays()))), _bits(t))


def test_forged_alphabet_maps_are_format_errors():
    r = encode_tensor(_weights((3 * CHUNK + 5,), torch.float16, special=False), layout="bytegroup")
    meta, arrays = r.to_arrays()
    assert meta["version"] == 2
    sym = np.array(arrays["symbols"])
    span = int(sym[1]) - int(sym[0]) + 1
    nb = -(-span // 8)
    forged = []
    for first, last in ((sym[1], sym[0]), (sym[0], sym[0])):  # last not after first
        s = sym.copy()
        s[0], s[1] = first, last
        forged.append(s)
    s = sym.copy()
    s[2] &= 0xFE  # first symbol's bit cleared
    forged.append(s)
    if span % 8:
        s = sym.copy()
        s[1 + nb] |= 0x80  # a bit past the last symbol
        forged.append(s)
    forged += [sym[:-1], np.append(sym, sym[-1]), sym[:2], sym[:3]]  # q values short / long
    for s in forged:
        with pytest.raises(FormatError, match="symbols"):
            RAS.from_arrays(meta, {**arrays, "symbols": s})


def test_float16_exponent_form_where_it_costs_little():
    """On a large tensor whose top mantissa bits carry no skew, the exponent form (faster:
    ~4 code words per table lookup) is kept though not the smallest; on Gaussian weights it
    costs more than MAX_COST["exponent"] and the smallest form stays; small tensors always keep
    the smallest. A forged exponent symbol past 31 is refused."""
    from sckit.ras import bytegroup_f16 as F

    g = torch.Generator().manual_seed(3)

    def binades(n):  # mantissas uniform inside each binade: mantissa bits 9-8 carry nothing
        e = torch.randint(-9, -2, (n,), generator=g).float()
        sign = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
        return (sign * (1 + torch.rand(n, generator=g)) * 2.0 ** e).to(torch.float16)

    big = binades(F.FAST_MIN_N + 100)
    sizes = {f: _f16_encode(big, f).nbytes for f in F.FORMS}
    r = encode_tensor(big, layout="bytegroup")
    assert r.f16_form == "exponent"
    assert 8 * (sizes["exponent"] - min(sizes.values())) <= F.MAX_COST["exponent"] * big.numel()
    small = binades(F.FAST_MIN_N // 4)
    small_sizes = {f: _f16_encode(small, f).nbytes for f in F.FORMS}
    assert encode_tensor(small, layout="bytegroup").nbytes == min(small_sizes.values())
    gauss = _weights((F.FAST_MIN_N * 2,), torch.float16, special=False)
    gs = {f: _f16_encode(gauss, f).nbytes for f in F.FORMS}
    assert 8 * (gs["exponent"] - min(gs.values())) > F.MAX_COST["exponent"] * gauss.numel()
    assert encode_tensor(gauss, layout="bytegroup").f16_form != "exponent"
    assert np.array_equal(_bits(decode_tensor(r)), _bits(big))
    meta, arrays = r.to_arrays()
    alpha = r.alpha.copy()
    alpha[-1] = 40  # (still increasing: the others are exponents <= 31)
    with pytest.raises(FormatError, match="not a float16 exponent"):
        RAS.from_arrays({**meta, "version": 1}, {**arrays, "symbols": np.concatenate([alpha, r.q])})


@pytest.mark.parametrize("frac,want", [(0.3, "sign_plane"), (0.9, "high_byte")])
def test_float16_sign_plane_over_a_barely_smaller_high_byte(frac, want):
    """Signs that follow magnitudes a little make the high byte (slowest to decode) the smaller
    form by a hair: on a large tensor the sign plane is kept while it costs at most
    MAX_COST["sign_plane"] bits per weight more; a clear gain keeps the high byte."""
    from sckit.ras import bytegroup_f16 as F

    n = F.FAST_MIN_N * 4
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, generator=g) * 0.02
    flip = (x < -0.02) & (torch.rand(n, generator=g) < frac)
    x[flip] = -x[flip]
    x = x.to(torch.float16)
    sizes = {f: _f16_encode(x, f).nbytes for f in F.FORMS}
    assert sizes["high_byte"] < sizes["sign_plane"]
    cost = 8 * (sizes["sign_plane"] - sizes["high_byte"]) / n
    assert (cost <= F.MAX_COST["sign_plane"]) == (want == "sign_plane")
    r = encode_tensor(x, layout="bytegroup")
    assert r.f16_form == want
    assert np.array_equal(_bits(decode_tensor(r)), _bits(x))


# ------------------------------------------------- float32 / bfloat16: the high-byte form


def _hb_encode(t: torch.Tensor, high_byte, **kw) -> ByteGroupRAS:
    from sckit.ras.bytegroup import encode_bytegroup

    dt = str(t.dtype).removeprefix("torch.")
    return encode_bytegroup(_bits(t).reshape(-1), r_split(dt), tuple(t.shape), "block",
                            high_byte=high_byte, **kw)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_high_byte_form_is_bit_exact(dtype):
    """Sign and top 7 exponent bits coded, the rest raw: every bit pattern (NaN payloads,
    infinities, -0.0, subnormals; all of bfloat16's) through every query, the file, and ranges
    of unaligned starts and lengths."""
    rng = np.random.default_rng(2)
    if dtype == torch.bfloat16:
        every = np.arange(1 << 16, dtype=np.uint16)
        bits = np.concatenate([every, rng.permutation(every)])
        t = torch.from_numpy(bits.view(np.int16).copy()).view(torch.bfloat16).reshape(512, 256)
    else:
        bits = rng.integers(0, 1 << 32, 3 * 8192 + 77, dtype=np.uint64).astype(np.uint32)
        t = torch.from_numpy(bits.view(np.int32).copy()).view(torch.float32)
    r = _hb_encode(t, True)
    assert r.high_byte and not r.sign_raw and r.to_arrays()[0]["form"] == "high_byte"
    _check_all(r, t)
    want = _bits(t).reshape(-1)
    for e0 in (0, 1, 7, 8191, 8193):
        for e1 in (e0 + 1, e0 + 9, e0 + 8200, want.size):
            if e0 < e1 <= want.size:
                out = np.empty(e1 - e0, want.dtype)
                r._range(e0, e1, out)
                assert np.array_equal(out, want[e0:e1]), (e0, e1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_high_byte_form_where_signs_follow_magnitudes(dtype):
    """All-positive tensors (norm scales, variances) and tensors whose large weights lean to
    one sign take the high-byte form, smaller than the exponent's; symmetric Gaussian weights
    and pruned ones (the zero skip's) do not."""
    g = torch.Generator().manual_seed(4)
    scales = (torch.rand(3000, generator=g) + 0.5).to(dtype)  # a norm layer's: all positive
    r = encode_tensor(scales, layout="bytegroup")
    assert r.high_byte and r.nbytes < _hb_encode(scales, False).nbytes
    _check_all(r, scales)
    lean = torch.randn(1 << 15, generator=g) * 0.02
    lean = torch.where(lean.abs() >= 2.0 ** -6, lean.abs(), lean).to(dtype)  # a binade-pair edge
    r = encode_tensor(lean, layout="bytegroup")
    assert r.high_byte and r.nbytes < _hb_encode(lean, False).nbytes
    _check_all(r, lean)
    gauss = _weights((1 << 15,), dtype, special=False)
    assert not encode_tensor(gauss, layout="bytegroup").high_byte
    pruned = torch.where(torch.rand(2000, generator=g) < 0.5, 0.0, torch.rand(2000, generator=g) + 1)
    rp = encode_tensor(pruned.to(dtype), layout="bytegroup")
    assert rp.zero_skip and not rp.high_byte


def test_high_byte_refusals_and_forged_meta():
    t = (torch.rand(5000) + 0.5)
    with pytest.raises(ValueError, match="high_byte"):
        _hb_encode(t.to(torch.float16), True)
    with pytest.raises(ValueError, match="high_byte"):
        _hb_encode(t, True, zero_skip=True)
    meta, arrays = _hb_encode(t, True).to_arrays()
    for bad in ({**meta, "form": "low_byte"}, {**meta, "form": 1}, {**meta, "dtype": "float16"},
                {**meta, "zero_skip_raw": 10}, {**meta, "codebook": True}):
        with pytest.raises(FormatError, match="form|dtype|zero_skip_raw|codebook|symbols"):
            RAS.from_arrays(bad, arrays)
    m = dict(meta)
    del m["form"]  # read as the exponent form: other weights, no crash
    assert RAS.from_arrays(m, arrays).decode().shape == (5000,)
