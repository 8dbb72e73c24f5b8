"""sckit.macs: per-op MAC formulas against hand counts and FlopCounterMode, SDPA, attribution."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from sckit.macs import MacTracer, call_model, count_macs
from tests.fixtures import MatmulNet, Raises, SharedTwice, TinyAttention, TinyCNN, TinyMLP


class Fn(nn.Module):
    """Wrap a function of the input as a module (no parameters unless given)."""

    def __init__(self, fn, **params):
        super().__init__()
        self.fn = fn
        for k, v in params.items():
            self.register_parameter(k, nn.Parameter(v))

    def forward(self, *xs):
        return self.fn(self, *xs)


def flop_counter_macs(model, *xs) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(*xs)
    return fc.get_total_flops() // 2


def trace(model, x) -> MacTracer:
    tr = MacTracer(model)
    call_model(model, x, tr)
    return tr


@pytest.mark.parametrize(
    "conv,shape,expected",
    [
        # N * Cout * Cin/groups * kh * kw * Hout * Wout, computed by hand
        (nn.Conv2d(3, 8, 3, padding=1), (2, 3, 10, 10), 2 * 8 * 3 * 9 * 100),
        (nn.Conv2d(3, 8, 3, stride=2), (1, 3, 11, 11), 8 * 3 * 9 * 25),
        (nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4), (1, 8, 6, 6), 8 * 2 * 9 * 36),
        (nn.Conv1d(4, 6, 5), (3, 4, 20), 3 * 6 * 4 * 5 * 16),
        (nn.Conv3d(2, 3, 2), (1, 2, 4, 4, 4), 3 * 2 * 8 * 27),
        # transposed: counted over the input positions (FlopCounterMode's convention)
        (nn.ConvTranspose2d(4, 2, 3, stride=2), (1, 4, 5, 5), 4 * 2 * 9 * 25),
    ],
)
def test_conv_formula_by_hand_and_flop_counter(conv, shape, expected):
    x = torch.randn(shape)
    assert count_macs(conv, x) == expected == flop_counter_macs(conv, x)


def test_matmul_family_by_hand_and_flop_counter():
    a, b = torch.randn(5, 7), torch.randn(7, 3)
    ba, bb = torch.randn(4, 5, 7), torch.randn(4, 7, 3)
    cases = [
        (Fn(lambda m, x, y: x @ y), (a, b), 5 * 7 * 3),  # mm
        (Fn(lambda m, x, y: torch.addmm(torch.zeros(3), x, y)), (a, b), 5 * 7 * 3),
        (Fn(lambda m, x, y: x @ y), (ba, bb), 4 * 5 * 7 * 3),  # bmm
        (Fn(lambda m, x, y: torch.baddbmm(torch.zeros(4, 5, 3), x, y)), (ba, bb), 4 * 5 * 7 * 3),
        (Fn(lambda m, x, y: torch.einsum("bij,bjk->bik", x, y)), (ba, bb), 4 * 5 * 7 * 3),
        (nn.Linear(7, 3), (torch.randn(2, 6, 7),), 2 * 6 * 7 * 3),  # linear on 3-D input
    ]
    for model, xs, expected in cases:
        assert count_macs(model, xs) == expected == flop_counter_macs(model, *xs)


def test_elementwise_norms_pooling_count_zero_like_flop_counter():
    model = nn.Sequential(
        nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2), nn.GroupNorm(1, 3), nn.Softmax(dim=1)
    )
    x = torch.randn(2, 3, 8, 8)
    assert count_macs(model, x) == 0 == flop_counter_macs(model, x)


def test_vector_products_are_counted_where_flop_counter_is_not():
    # documented difference: FlopCounterMode has no formula for mv / dot
    mv = Fn(lambda m, x: x @ torch.ones(7))
    dot = Fn(lambda m, x: torch.dot(x[0], x[1]))
    x = torch.randn(5, 7)
    assert count_macs(mv, x) == 35 and flop_counter_macs(mv, x) == 0
    assert count_macs(dot, x) == 7 and flop_counter_macs(dot, x) == 0


def test_sdpa_counted_where_flop_counter_counts_zero():
    b, h, length, s, e = 2, 3, 5, 7, 4
    q, k, v = torch.randn(b, h, length, e), torch.randn(b, h, s, e), torch.randn(b, h, s, e)
    model = Fn(lambda m, q, k, v: F.scaled_dot_product_attention(q, k, v))
    tr = trace(model, (q, k, v))
    parts = {r.op: r.macs for r in tr.records}
    assert parts == {"sdpa.qk": b * h * length * s * e, "sdpa.av": b * h * length * s * e}
    # torch 2.13 on CPU: the flash-for-cpu kernel has no FlopCounterMode formula
    assert flop_counter_macs(model, q, k, v) == 0


def test_sdpa_math_fallback_is_counted_by_both():
    # Ev != E rules out the CPU flash kernel; the math path decomposes into two bmm's
    b, h, length, s, e, ev = 2, 3, 5, 7, 4, 6
    q, k, v = torch.randn(b, h, length, e), torch.randn(b, h, s, e), torch.randn(b, h, s, ev)
    model = Fn(lambda m, q, k, v: F.scaled_dot_product_attention(q, k, v))
    expected = b * h * length * s * e + b * h * length * s * ev
    assert count_macs(model, (q, k, v)) == expected == flop_counter_macs(model, q, k, v)


def test_sdpa_causal_and_gqa():
    q, k, v = torch.randn(1, 4, 6, 8), torch.randn(1, 2, 6, 8), torch.randn(1, 2, 6, 8)
    gqa = Fn(lambda m, q, k, v: F.scaled_dot_product_attention(q, k, v, enable_gqa=True))
    assert count_macs(gqa, (q, k, v)) == 2 * (1 * 4 * 6 * 6 * 8)  # kv heads broadcast to 4
    causal = Fn(lambda m, q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True))
    assert count_macs(causal, (q, q, q)) == 2 * (1 * 4 * 6 * 6 * 8)  # no causal discount


def test_tiny_attention_difference_is_exactly_sdpa():
    model = TinyAttention(dim=8, heads=2)
    x = torch.randn(3, 5, 8)
    linears = 3 * 5 * 8 * 24 + 3 * 5 * 8 * 8
    sdpa = 2 * (3 * 2 * 5 * 5 * 4)
    assert flop_counter_macs(model, x) == linears
    assert count_macs(model, x) == linears + sdpa


def test_records_name_innermost_module_and_parameter():
    model = TinyCNN()
    tr = trace(model, torch.randn(1, 1, 8, 8))
    assert [(r.module, r.op) for r in tr.records] == [("conv", "conv"), ("fc", "addmm")]
    assert [r.weight for r in tr.records] == [id(model.conv.weight), id(model.fc.weight)]
    assert list(tr.first_call)[:3] == ["", "conv", "bn"]


def test_parameter_as_first_operand():
    model = Fn(lambda m, x: m.w @ x, w=torch.randn(3, 4))  # weight on the left of a matmul
    tr = trace(model, torch.randn(4, 5))
    assert [(r.op, r.macs, r.weight) for r in tr.records] == [("mm", 60, id(model.w))]


def test_parameter_free_matmuls_have_no_weight_and_count_occurrences():
    tr = trace(MatmulNet(4), torch.randn(2, 3, 4))
    free = [(r.op, r.occurrence, r.macs) for r in tr.records if r.weight is None]
    assert free == [("bmm", 0, 2 * 3 * 4 * 3), ("bmm", 1, 2 * 3 * 3 * 4)]


def test_module_called_twice_records_twice():
    tr = trace(SharedTwice(), torch.randn(2, 5))
    assert [r.macs for r in tr.records] == [50, 50]


def test_failure_names_the_innermost_layer_and_chains():
    with pytest.raises(ValueError, match=r"layer 'body\.1' \(_Boom\) failed.*boom") as info:
        count_macs(Raises(), torch.randn(1, 4))
    assert isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(ValueError, match=r"layer 'fc1' \(Linear\) failed") as info:
        count_macs(TinyMLP(), torch.randn(1, 9))
    assert "shape" in str(info.value.__cause__)


def test_hooks_and_mode_are_removed_and_training_restored():
    model = TinyCNN().train()
    before = model.bn.running_mean.clone()
    count_macs(model, torch.randn(2, 1, 8, 8))
    assert model.training and model.bn.training
    assert torch.equal(model.bn.running_mean, before)  # ran in eval mode
    assert not model.conv._forward_pre_hooks and not model.conv._forward_hooks
    with pytest.raises(ValueError):
        count_macs(Raises(), torch.randn(1, 4))
    # a failed trace leaves no mode behind: plain ops still run untraced
    assert torch.ones(2).add(1).sum().item() == 4.0


def test_fused_attention_kernels_match_the_unfused_path():
    # eval + no_grad sends nn.MultiheadAttention / TransformerEncoderLayer to fused kernels that
    # FlopCounterMode counts as 0; sckit counts them like the unfused path (+ SDPA)
    b, n, e, h, ffn = 2, 5, 16, 4, 32
    sdpa = 2 * (b * h * n * n * (e // h))
    mha = nn.MultiheadAttention(e, h, batch_first=True).eval()
    x = torch.randn(b, n, e)
    assert count_macs(mha, (x, x, x)) == 4 * b * n * e * e + sdpa
    with FlopCounterMode(display=False) as fc:  # autograd on: the unfused path, whose
        mha(x, x, x)  # need_weights=True attention runs as two bmm's that FlopCounterMode counts
    assert count_macs(mha, (x, x, x)) == fc.get_total_flops() // 2
    layer = nn.TransformerEncoderLayer(e, h, ffn, batch_first=True).eval()
    with FlopCounterMode(display=False) as fc:
        layer(x)
    expected = 4 * b * n * e * e + 2 * b * n * e * ffn
    assert fc.get_total_flops() // 2 == expected
    assert count_macs(layer, x) == expected + sdpa
