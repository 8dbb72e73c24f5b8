"""Fast-mode kernels (sckit.engine.kernels) against the dense computation they replace.

Every kernel is compared with ``type(mod).forward(mod, x)`` on random layers and inputs: shapes
and dtypes must match exactly and values must lie within ``plan.reassociation_bound`` (the only
difference a kernel may make is the order of a sum). Where the result is exact by construction
(a dropped all-zero filter is its bias) the comparison is on the bits.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import event, given, settings
from hypothesis import strategies as st
from torch import nn

from sckit.engine import bit_equal
from sckit.engine import kernels as K
from sckit.engine.plan import MARGIN, calibrate_layer, reassociation_bound

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    # torch warns on every CSR conversion (from C++, past the module's own filter under pytest)
    pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta:UserWarning"),
]

DTYPES = (torch.float32, torch.float16, torch.bfloat16)
LOW = (torch.float16, torch.bfloat16)
PATTERNS = ("dense", "rows", "all_rows", "inputs", "groups", "random", "rows+random")
BIASES = ("randn", "none", "const", "signed_zero")


# -- helpers -------------------------------------------------------------------------------------
def _signed_zeros(shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    """+0.0 and -0.0 at random: a pruned weight may hold either, both count as zero."""
    return torch.where(torch.rand(shape, generator=gen) < 0.5, 0.0, -0.0)


def _weight(shape: tuple[int, ...], pattern: str, density: float, groups: int,
            gen: torch.Generator) -> torch.Tensor:
    w = torch.randn(shape, generator=gen)
    keep = torch.ones(shape, dtype=torch.bool)
    out, cin = shape[0], shape[1]
    if "rows" in pattern and pattern != "all_rows":
        keep &= (torch.rand(out, generator=gen) < 0.5).view(out, *[1] * (len(shape) - 1)).logical_not()
    if pattern == "all_rows":
        keep[:] = False
    if pattern == "inputs":
        keep &= (torch.rand(cin, generator=gen) < 0.5).view(1, cin, *[1] * (len(shape) - 2)).logical_not()
    if pattern == "groups":
        per = out // groups
        g_zero = torch.rand(groups, generator=gen) < 0.5
        keep &= g_zero.logical_not().repeat_interleave(per).view(out, *[1] * (len(shape) - 1))
    if "random" in pattern:
        keep &= torch.rand(shape, generator=gen) < density
    return torch.where(keep, w, _signed_zeros(shape, gen))


def _bias(n: int, kind: str, gen: torch.Generator) -> torch.Tensor | None:
    if kind == "none":
        return None
    if kind == "const":
        return torch.full((n,), 0.375)
    if kind == "signed_zero":
        return _signed_zeros((n,), gen)
    return torch.randn(n, generator=gen)


def _set(mod: nn.Module, w: torch.Tensor, b: torch.Tensor | None, dtype: torch.dtype) -> nn.Module:
    mod = mod.to(dtype).requires_grad_(False)
    mod.weight.copy_(w.to(dtype))
    if b is not None:
        mod.bias.copy_(b.to(dtype))
    return mod


def _dense(mod: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return type(mod).forward(mod, x)


def _bound(mod: nn.Module, x: torch.Tensor, w: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """reassociation_bound; for fp16/bf16 its magnitudes are computed in float32 (more accurate
    than the half kernels, and defined where those are missing) and scaled to the dtype's eps."""
    if ref.dtype not in LOW:
        return reassociation_bound(mod, x, w, ref).double()
    b32 = reassociation_bound(mod, x.float(), w.float(), ref.float()).double()
    scale = torch.finfo(ref.dtype).eps / torch.finfo(torch.float32).eps
    return b32 * scale + torch.finfo(ref.dtype).tiny


def _assert_matches(mod: nn.Module, x: torch.Tensor, got: torch.Tensor, ref: torch.Tensor) -> None:
    assert got.shape == ref.shape
    assert got.dtype == ref.dtype
    bound = _bound(mod, x, mod.weight.detach(), ref)
    diff = (got.double() - ref.double()).abs()
    ok = (diff <= bound) | (got.isnan() & ref.isnan())
    assert bool(ok.all()), f"outside the reassociation bound by {float((diff - bound).max()):.3g}"
    if ref.is_contiguous():
        # code after the layer may .view() its output: a kernel must allow what dense allows
        assert got.is_contiguous(), f"dense output is contiguous, kernel's has strides {got.stride()}"


def _channel_dim(mod: nn.Module, x: torch.Tensor) -> int:
    if isinstance(mod, nn.Linear):
        return x.dim() - 1
    return 1 if x.dim() == 4 else 0


def _dropped_are_bias(mod: nn.Module, x: torch.Tensor, k: K.ShrunkKernel, got: torch.Tensor) -> None:
    """The rows a shrunk kernel dropped are exactly what it must drop, and their outputs carry
    exactly the bias bits (+0.0 without a bias)."""
    w = mod.weight.detach()
    zero = (w.reshape(w.shape[0], -1) == 0).all(dim=1)
    groups = getattr(mod, "groups", 1)
    if groups != 1:
        per = w.shape[0] // groups
        zero = zero.view(groups, per).all(dim=1).repeat_interleave(per)
    want_drop = torch.nonzero(zero).flatten()
    got_drop = k.drop if k.drop is not None else torch.empty(0, dtype=torch.long)
    assert torch.equal(got_drop, want_drop)
    if not want_drop.numel():
        return
    dim = _channel_dim(mod, x)
    out = got.index_select(dim, want_drop).movedim(dim, -1).contiguous()
    if mod.bias is None:
        expect = torch.zeros_like(out)
    else:
        expect = mod.bias.detach().index_select(0, want_drop).expand_as(out).contiguous()
    assert bit_equal(out, expect)


def _check_kernels(mod: nn.Module, x: torch.Tensor) -> None:
    """Every kernel on (mod, x): matches dense, or (csr on a grouped conv / a dtype torch's sparse
    matmul lacks) refuses with a clear error. ``applicable`` lists exactly the useful ones."""
    w = mod.weight.detach()
    b = None if mod.bias is None else mod.bias.detach()
    ref = _dense(mod, x)
    groups = getattr(mod, "groups", 1)
    names, note = K.applicable(mod, w)
    zero_rows = (w.reshape(w.shape[0], -1) == 0).all(dim=1)
    if groups == 1:
        zero_in = (w.transpose(0, 1).reshape(w.shape[1], -1) == 0).all(dim=1)
        assert ("shrunk" in names) == bool(zero_rows.any() or zero_in.any()), note
        assert ("csr" in names) == bool((w == 0).any()), note
    else:
        g_zero = zero_rows.view(groups, -1).all(dim=1)
        assert ("shrunk" in names) == bool(g_zero.any()), note
        assert "csr" not in names and "CSR needs groups=1" in note

    # shrunk: always correct, even where it would drop nothing
    k = K.build("shrunk", mod, w, b)
    got = k(x)
    _assert_matches(mod, x, got, ref)
    _dropped_are_bias(mod, x, k, got)
    event(f"shrunk: dropped {'none' if k.drop is None else 'all' if not k.keep.numel() else 'some'}")
    assert 0.0 <= k.fraction <= 1.0 and k.nbytes >= 0

    # every other kernel: either it refuses the layer at build time (ValueError) and applicable()
    # does not offer it, or it matches dense; a dtype torch's CPU sparse matmul lacks (fp16/bf16)
    # is a clear error naming the dtype, never a silently wrong result
    ks: list[K.FastKernel] = [k]
    for name in K.KERNELS[1:]:
        if name == "shrunk":
            continue
        try:
            c = K.build(name, mod, w, b)
        except ValueError as exc:
            assert name not in names, (name, exc)
            if groups != 1:
                assert "groups=1" in str(exc)
            continue
        if name == "csr":
            assert c.density == pytest.approx(int(torch.count_nonzero(w)) / w.numel())
        try:
            got_c = c(x)
        except (NotImplementedError, RuntimeError) as exc:
            assert w.dtype in LOW, (name, exc)
            assert {torch.float16: "Half", torch.bfloat16: "BFloat16"}[w.dtype] in str(exc)
            event(f"{name}: refused {w.dtype}")
            continue
        _assert_matches(mod, x, got_c, ref)
        event(f"{name}: compared")
        assert c.nbytes >= 0 and K.describe(c)
        ks.append(c)

    # a kernel holds its own copies: the decoded weights it was built from are freed afterwards
    before = [kk(x) for kk in ks]
    with torch.no_grad():
        mod.weight.fill_(float("nan"))
        if mod.bias is not None:
            mod.bias.fill_(float("nan"))
    for kk, y in zip(ks, before, strict=True):
        assert bit_equal(kk(x), y)


# -- strategies ----------------------------------------------------------------------------------
@st.composite
def linear_case(draw: st.DrawFn) -> tuple[nn.Module, torch.Tensor]:
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    fin, fout = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    dtype = draw(st.sampled_from(DTYPES))
    pattern = draw(st.sampled_from([p for p in PATTERNS if p != "groups"]))
    density = draw(st.floats(0.0, 0.99))
    bias = draw(st.sampled_from(BIASES))
    lead = draw(st.lists(st.integers(1, 4), max_size=3))  # [] -> a 1-D input
    layout = draw(st.sampled_from(["contiguous", "sliced", "transposed"]))
    w = _weight((fout, fin), pattern, density, 1, gen)
    mod = _set(nn.Linear(fin, fout, bias=bias != "none"), w, _bias(fout, bias, gen), dtype)
    if layout == "sliced":
        x = torch.randn(*lead, 2 * fin, generator=gen).to(dtype)[..., ::2]
    elif layout == "transposed":
        x = torch.randn(fin, *lead, generator=gen).to(dtype).movedim(0, -1)
    else:
        x = torch.randn(*lead, fin, generator=gen).to(dtype)
    return mod, x


def _pair(draw: st.DrawFn, lo: int, hi: int) -> int | tuple[int, int]:
    if draw(st.booleans()):
        return draw(st.integers(lo, hi))
    return (draw(st.integers(lo, hi)), draw(st.integers(lo, hi)))


@st.composite
def conv_case(draw: st.DrawFn) -> tuple[nn.Module, torch.Tensor]:
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cin, cout = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    ks, dil = _pair(draw, 1, 3), _pair(draw, 1, 2)
    stride = 1 if draw(st.booleans()) else _pair(draw, 1, 3)  # stride 1 has kernels of its own
    padding = draw(st.one_of(st.just("valid"), st.integers(0, 2),
                             st.tuples(st.integers(0, 2), st.integers(0, 2))))
    dtype = draw(st.sampled_from(DTYPES))
    pattern = draw(st.sampled_from(PATTERNS))
    density = draw(st.floats(0.0, 0.99))
    bias = draw(st.sampled_from(BIASES))
    batch = draw(st.sampled_from([None, 1, 2, 3]))  # None: an unbatched (C, H, W) input
    layout = draw(st.sampled_from(["contiguous", "channels_last", "sliced", "transposed"]))
    mod = nn.Conv2d(cin, cout, ks, stride=stride, padding=padding, dilation=dil, groups=groups,
                    bias=bias != "none")
    w = _weight(tuple(mod.weight.shape), pattern, density, groups, gen)
    mod = _set(mod, w, _bias(cout, bias, gen), dtype)
    pad = (0, 0) if padding == "valid" else mod.padding
    hw = [max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, 4))
          for d, k, p in zip(mod.dilation, mod.kernel_size, pad, strict=True)]
    lead = () if batch is None else (batch,)
    if layout == "sliced":
        x = torch.randn(*lead, cin, hw[0], 2 * hw[1], generator=gen).to(dtype)[..., ::2]
    elif layout == "transposed":
        x = torch.randn(*lead, cin, hw[1], hw[0], generator=gen).to(dtype).transpose(-1, -2)
    else:
        x = torch.randn(*lead, cin, *hw, generator=gen).to(dtype)
        if layout == "channels_last" and batch is not None:
            x = x.contiguous(memory_format=torch.channels_last)
    return mod, x


# -- differential tests --------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(linear_case())
def test_linear_kernels_match_dense(case):
    _check_kernels(*case)


@settings(max_examples=300, deadline=None)
@given(conv_case())
def test_conv2d_kernels_match_dense(case):
    _check_kernels(*case)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layer", ["linear", "conv"])
def test_everything_dropped(layer, dtype):
    """All filters zero: no compute at all, the output is the bias (shape from the conv
    arithmetic: stride, padding, dilation), batched and unbatched."""
    if layer == "linear":
        mod = _set(nn.Linear(7, 5), torch.zeros(5, 7), torch.arange(5.0) - 2, dtype)
        xs = [torch.randn(3, 2, 7).to(dtype), torch.randn(7).to(dtype)]
    else:
        mod = nn.Conv2d(3, 4, (3, 2), stride=(2, 3), padding=(1, 2), dilation=(2, 1))
        mod = _set(mod, torch.zeros(4, 3, 3, 2), torch.tensor([1.5, -0.0, 0.0, -2.0]), dtype)
        xs = [torch.randn(2, 3, 9, 8).to(dtype), torch.randn(3, 9, 8).to(dtype)]
    k = K.build("shrunk", mod, mod.weight.detach(), mod.bias.detach())
    assert k.keep.numel() == 0 and k.weight.numel() == 0
    for x in xs:
        got = k(x)
        _assert_matches(mod, x, got, _dense(mod, x))
        _dropped_are_bias(mod, x, k, got)


def test_dropped_outputs_keep_each_bias_bits():
    """Each dropped unit gets its own bias, bit for bit: +0.0 and -0.0 are not merged (they
    compare equal), and inf/NaN biases come through as they are."""
    w = torch.zeros(6, 4)
    w[5] = 1.0
    special = torch.tensor([0.0, -0.0, float("inf"), float("nan"), 0.0, 2.0])
    zeros = torch.tensor([0.0, -0.0, -0.0, 0.0, 0.0, 2.0])  # all equal, not all the same bits
    for order in (special, special[[1, 0, 2, 3, 4, 5]], zeros, zeros[[1, 0, 2, 3, 4, 5]]):
        mod = _set(nn.Linear(4, 6), w, order, torch.float32)
        k = K.build("shrunk", mod, mod.weight.detach(), mod.bias.detach())
        got = k(torch.randn(3, 4))
        assert bit_equal(got[:, :5].contiguous(), order[:5].expand(3, 5).contiguous())
    # the same with every dropped bias +0 / -0 alike (the constant-fill path)
    for z in (0.0, -0.0):
        mod = _set(nn.Linear(4, 6), w, torch.tensor([z] * 5 + [1.0]), torch.float32)
        got = K.build("shrunk", mod, mod.weight.detach(), mod.bias.detach())(torch.randn(2, 4))
        assert bit_equal(got[:, :5].contiguous(), torch.full((2, 5), z))


def test_shrunk_unbatched_conv_drops_input_channels():
    """An unbatched (C, H, W) input: the channel axis is 0, not 1 (regression)."""
    for groups in (1, 2):
        mod = nn.Conv2d(4, 6, 3, groups=groups, padding=1).requires_grad_(False)
        if groups == 1:
            mod.weight[:, 1] = 0  # input channel 1 unused
        else:
            mod.weight[:3] = 0  # group 0 dropped: its input channels are not read
        x = torch.randn(4, 7, 5)
        k = K.build("shrunk", mod, mod.weight.detach(), mod.bias.detach())
        _assert_matches(mod, x, k(x), _dense(mod, x))
        xb = x.unsqueeze(0)
        assert bit_equal(k(x), k(xb)[0])


def test_csr_linear_output_views_like_dense():
    """Downstream code may .view() a Linear's output; the CSR result must be laid out so that
    works wherever it does for the dense one (regression: it was a transposed view)."""
    mod = _set(nn.Linear(16, 8), _weight((8, 16), "random", 0.2, 1, torch.Generator().manual_seed(0)),
               torch.randn(8), torch.float32)
    k = K.build("csr", mod, mod.weight.detach(), mod.bias.detach())
    for x in (torch.randn(5, 16), torch.randn(2, 3, 16), torch.randn(16)):
        got, ref = k(x), _dense(mod, x)
        assert got.view(-1).shape == ref.view(-1).shape
        _assert_matches(mod, x, got, ref)


def test_csr_refuses_grouped_conv():
    mod = nn.Conv2d(4, 4, 3, groups=2).requires_grad_(False)
    mod.weight[:, :, 0] = 0
    names, note = K.applicable(mod, mod.weight.detach())
    assert "csr" not in names and "CSR needs groups=1" in note
    with pytest.raises(ValueError, match="groups=1"):
        K.build("csr", mod, mod.weight.detach(), mod.bias.detach())


# -- applicable() and build() --------------------------------------------------------------------
class MyLinear(nn.Linear):
    """A subclass may change forward: never replaced."""


@pytest.mark.parametrize(("mod", "needle"), [
    (nn.Conv1d(3, 4, 3), "no fast kernel for Conv1d"),
    (nn.Conv3d(3, 4, 3), "no fast kernel for Conv3d"),
    (MyLinear(4, 4), "no fast kernel for MyLinear"),
    (nn.Bilinear(3, 3, 2), "no fast kernel for Bilinear"),
    (nn.ConvTranspose2d(3, 4, 3), "no fast kernel for ConvTranspose2d"),
    (nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), "padding_mode='reflect'"),
    (nn.Conv2d(3, 4, 3, padding=1, padding_mode="circular"), "padding_mode='circular'"),
    (nn.Conv2d(3, 4, 3, padding="same"), "padding='same'"),
])
def test_applicable_unsupported_layers(mod, needle):
    w = mod.weight.detach().clone()
    w.view(-1)[::2] = 0  # sparse enough that a kernel would apply if the layer could take one
    names, note = K.applicable(mod, w)
    assert names == [] and needle in note


def test_applicable_notes():
    lin = nn.Linear(6, 4)
    w = torch.randn(4, 6)
    assert K.applicable(lin, w) == ([], "no all-zero filter; no zero weights")
    w[0, 0] = 0
    assert K.applicable(lin, w) == (["csr"], "no all-zero filter")
    w[1] = -0.0
    assert K.applicable(lin, w) == (["shrunk", "csr"], "")
    assert K.applicable(lin, w.to(torch.int32)) == ([], "torch.int32 weights")
    conv = nn.Conv2d(4, 4, 3, groups=2)
    wc = torch.randn(4, 2, 3, 3)
    wc[0] = 0  # one zero filter, but its group (filters 0-1) still computes
    names, note = K.applicable(conv, wc)
    assert names == [] and "no all-zero group" in note and "CSR needs groups=1" in note
    wc[1] = 0
    assert K.applicable(conv, wc)[0] == ["shrunk"]
    names = K.applicable(nn.Conv2d(3, 4, 3, padding="valid"), torch.zeros(4, 3, 3, 3))[0]
    assert names[:2] == ["shrunk", "csr"] and set(names) <= set(K.KERNELS[1:])


def test_build_unknown_kernel():
    with pytest.raises(ValueError, match="unknown fast kernel 'dense'"):
        K.build("dense", nn.Linear(2, 2), torch.zeros(2, 2), None)


def test_describe():
    mod = nn.Linear(4, 4).requires_grad_(False)
    mod.weight[:3] = 0
    assert K.describe(K.build("shrunk", mod, mod.weight, mod.bias)) == "1/4 outputs computed"
    assert K.describe(K.build("csr", mod, mod.weight, mod.bias)) == "CSR, density 0.250"
    assert K.describe(object()) == ""


# -- calibrate_layer -----------------------------------------------------------------------------
def _consistent(lp, names: list[str]) -> None:
    assert lp.kernel in K.KERNELS and lp.why
    kernel_ms = {k: v for k, v in lp.ms.items() if k in names}
    if lp.kernel != "dense":
        assert lp.ms[lp.kernel] == min(kernel_ms.values())
        assert lp.ms[lp.kernel] <= MARGIN * lp.ms["dense_route"]
    else:
        assert all(v > MARGIN * lp.ms["dense_route"] for v in kernel_ms.values())
    # the dense route: compute plus decode (no decode given here)
    assert lp.ms["dense_route"] == lp.ms["dense"] + lp.ms["decode"]
    assert set(lp.ms) <= {"dense", "decode", "dense_route", *names}


@pytest.mark.parametrize("dtype", DTYPES)
def test_calibrate_layer_follows_measurement(dtype):
    gen = torch.Generator().manual_seed(1)
    lin = _set(nn.Linear(256, 256), _weight((256, 256), "rows+random", 0.05, 1, gen),
               torch.randn(256), dtype)
    x = torch.randn(32, 256).to(dtype)
    lp, k = calibrate_layer(lin, x)
    names = K.applicable(lin, lin.weight.detach())[0]
    assert names == ["shrunk", "csr"]
    _consistent(lp, names)
    assert (k is None) == (lp.kernel == "dense")
    if k is not None:
        _assert_matches(lin, x, k(x), _dense(lin, x))
    if dtype in LOW:
        # no fp16/bf16 sparse matmul on the CPU: csr is rejected with the reason, not skipped
        assert "csr" not in lp.ms
        assert "csr failed (NotImplementedError" in lp.why or "csr failed (RuntimeError" in lp.why
    else:
        assert "csr" in lp.ms


def test_calibrate_layer_dense_weights_and_unsupported():
    lp, k = calibrate_layer(nn.Linear(8, 8), torch.randn(2, 8))
    assert (lp.kernel, lp.why, lp.ms, k) == ("dense", "no all-zero filter; no zero weights", {}, None)
    lp, k = calibrate_layer(nn.Conv1d(2, 2, 1), torch.randn(1, 2, 4))
    assert (lp.kernel, k) == ("dense", None) and "Conv1d" in lp.why


def test_reassociation_bound_shapes():
    mod = nn.Conv2d(2, 3, 3, stride=2, padding="valid")
    x = torch.randn(2, 7, 7)
    ref = _dense(mod, x)
    b = reassociation_bound(mod, x, mod.weight.detach(), ref)
    assert b.shape == ref.shape and bool((b > 0).all())
    lin = nn.Linear(5, 3)
    x1 = torch.randn(5)
    assert reassociation_bound(lin, x1, lin.weight.detach(), _dense(lin, x1)).shape == (3,)
    assert F.linear(x1, lin.weight, lin.bias).shape == (3,)


def test_calibrate_layer_charges_the_dense_route_its_decode():
    # a sparse layer: with a decode far slower than any compute, the dense route cannot win;
    # with that decode overlapped (decode-ahead), the route costs the larger of the two
    gen = torch.Generator().manual_seed(3)
    lin = _set(nn.Linear(64, 64), _weight((64, 64), "random", 0.3, 1, gen), torch.randn(64), torch.float32)
    x = torch.randn(4, 64)
    lp, k = calibrate_layer(lin, x, decode_ms=1e4)
    assert lp.kernel != "dense" and k is not None
    assert lp.ms["dense_route"] == lp.ms["dense"] + 1e4 and "decode + dense compute" in lp.why
    lp2, _ = calibrate_layer(lin, x, decode_ms=1e4, overlapped=True)
    assert lp2.ms["dense_route"] == 1e4 and "overlapped" in lp2.why
