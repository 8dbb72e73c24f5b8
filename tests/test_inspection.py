"""sckit.inspect: the per-layer table -- MACs vs FlopCounterMode, parameters, RAS choice,
overrides, errors, sparsity, encoding, and the paper's appendix A tables."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import sckit
from sckit import zoo
from sckit.inspection import (
    COLUMNS,
    DEFAULT_FPR_THRESHOLD,
    choose_ras,
    group_table,
    inspect,
    paper_table,
)
from tests.fixtures import (
    MatmulNet,
    Raises,
    SharedTwice,
    TiedLM,
    TinyAttention,
    TinyCNN,
    TinyMLP,
    WithUnused,
)

SLOW = {"vgg16", "deit_base", "alexnet", "resnet101"}  # 2-6 s each (build + 2 forwards)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _fc_macs(model, x) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x)
    return fc.get_total_flops() // 2


@functools.cache
def _zoo_case(name: str):
    """(inspect frame, FlopCounterMode MACs, distinct parameters) -- shared by the tests below
    so each big model is built and run once per session."""
    model, x = zoo.create_model(name), zoo.default_input(name)
    df = inspect(model, x, encode=False)
    return df, _fc_macs(model, x), sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in zoo.list_models()]
)
def test_zoo_macs_match_flop_counter_and_params_add_up(name):
    df, fc_macs, n_params = _zoo_case(name)
    assert list(df.columns) == COLUMNS
    sdpa = df.type.isin(["sdpa.qk", "sdpa.av"])
    assert df.macs[~sdpa].sum() == fc_macs
    assert df.n_params.sum() == n_params
    assert (df.flops == 2 * df.macs).all()
    weights = df[df.n_params > 0]
    assert set(weights.ras) <= {"block", "element"} and (df.ras[df.n_params == 0] == "").all()
    if name.startswith("deit"):
        # the documented difference: FlopCounterMode counts SDPA as 0 on CPU, sckit does not
        depth, dim, tokens = 12, {"deit_tiny": 192, "deit_base": 768}[name], 197
        assert sdpa.sum() == 2 * depth
        assert df.macs[sdpa].sum() == 2 * depth * tokens * tokens * dim  # B*H*N*N*hd, H*hd = dim
        assert df.macs.sum() > fc_macs
    else:
        assert not sdpa.any() and df.macs.sum() == fc_macs


def test_resnet50_known_totals_and_order():
    df = _zoo_case("resnet50")[0]
    # 4.09 GMACs: the figure fvcore / ptflops-style counters publish for ResNet-50 at 224
    assert df.macs.sum() == 4_089_184_256
    assert df.layer.iloc[0] == "conv1" and df.layer.iloc[-1] == "fc"
    assert list(df.layer[:4]) == ["conv1", "bn1", "layer1.0.conv1", "layer1.0.bn1"]
    # every conv uses block-wise RAS, the FC element-wise (paper section 4.1)
    assert (df.ras[df.type == "Conv2d"] == "block").all()
    assert df.set_index("layer").loc["fc", "ras"] == "element"
    assert df.set_index("layer").fpr[df.type.values == "Conv2d"].min() == pytest.approx(98.0)

    t = paper_table(df, "resnet50").set_index("group")
    # #Parameters of the paper's Table 4 (to its 3-4 significant digits), except conv1 (see docs)
    assert t.n_params["layer1.conv"] == 215_808  # 215.81k
    assert round(t.n_params["layer2.conv"] / 1e4) == 122  # 1.22M
    assert round(t.n_params["layer3.conv"] / 1e5) == 71  # 7.1M
    assert round(t.n_params["layer4.conv"] / 1e4) == 1496  # 14.96M
    assert t.n_params["fc"] == 2_049_000  # 2.05M
    assert t.macs["conv1"] == 118_013_952  # 118.01M, as in the paper
    assert (
        t.loc["Total", "n_params"] == df.n_params.sum() and t.loc["Total", "macs"] == df.macs.sum()
    )
    assert list(t.ras[:-1]) == ["block"] * 5 + ["element"]


@pytest.mark.slow
def test_vgg16_paper_table():
    df = _zoo_case("vgg16")[0]
    t = paper_table(df, "vgg16").set_index("group")
    assert list(t.index) == [f"conv{i}" for i in range(1, 14)] + ["fc1", "fc2", "fc3", "Total"]
    paper_k = [
        1.79,
        36.93,
        73.86,
        147.58,
        295.17,
        590.08,
        590.08,
        1180,
        2360,
        2360,
        2360,
        2360,
        2360,
    ]
    assert [round(n / 1e3, 2 if n < 1e6 else -1) for n in t.n_params[:13]] == paper_k
    assert list(t.n_params[13:16]) == [102_764_544, 16_781_312, 4_097_000]
    assert list(t.ras[:13]) == ["block"] * 13 and list(t.ras[13:16]) == ["element"] * 3
    assert t.loc["Total", "macs"] == 15_470_264_320 == df.macs.sum()


def test_deit_rows_order_and_ras():
    df = _zoo_case("deit_tiny")[0]
    layers = list(df.layer)
    assert layers[:3] == ["cls_token", "pos_embed", "patch_embed.proj"]
    i = layers.index("blocks.0.attn.qkv")
    assert layers[i : i + 4] == [
        "blocks.0.attn.qkv",
        "blocks.0.attn:sdpa.qk",
        "blocks.0.attn:sdpa.av",
        "blocks.0.attn.proj",
    ]
    by = df.set_index("layer")
    assert by.loc["blocks.0.attn:sdpa.qk", "macs"] == 3 * 197 * 197 * 64
    assert by.loc["blocks.3.mlp.fc1", "ras"] == "block" and by.loc["head", "ras"] == "element"
    assert (
        math.isnan(by.loc["blocks.0.attn:sdpa.qk", "fpr"])
        and by.loc["blocks.0.attn:sdpa.qk", "ras"] == ""
    )


def test_tied_weights_counted_once():
    model = TiedLM()
    df = inspect(model, torch.tensor([[1, 2, 3]]), encode=False).set_index("layer")
    assert df.n_params.sum() == 60 + 42 + 10 == sum(p.numel() for p in model.parameters())
    assert df.n_params["embed"] == 60 and df.n_params["head"] == 10  # head keeps only its bias
    assert df.shared["head"] == "embed.weight"
    assert df.macs["head"] == 3 * 6 * 10 and df.macs["embed"] == 0  # MACs stay where they run


def test_container_parameter_and_unused_child():
    df = inspect(WithUnused(), torch.randn(2, 3), encode=False)
    assert list(df.layer) == ["scale", "fc", "spare"]  # never-run child last, still counted
    assert list(df.type) == ["Parameter", "Linear", "Linear"]
    assert df.n_params.sum() == 3 + 12 + 28 and df.macs.tolist() == [0, 18, 0]


def test_shared_module_and_param_free_matmuls():
    df = inspect(SharedTwice(), torch.randn(4, 5), encode=False)
    assert df.macs.tolist() == [2 * 4 * 25] and df.fpr.iloc[0] == pytest.approx(2 * 200 / 30)
    df = inspect(MatmulNet(4), torch.randn(2, 3, 4), encode=False)
    assert list(df.layer) == ["proj", "bmm", "bmm#1"]
    assert list(df.n_params) == [16, 0, 0] and list(df.ras) == ["element", "", ""]


def test_fused_multihead_attention_is_charged_to_its_weights():
    mha = torch.nn.MultiheadAttention(16, 4, batch_first=True)
    x = torch.randn(2, 5, 16)
    df = inspect(mha, (x, x, x), encode=False).set_index("layer")
    assert list(df.index) == ["in_proj_weight", "in_proj_bias", "sdpa.qk", "sdpa.av", "out_proj"]
    assert df.macs.to_dict() == {
        "in_proj_weight": 3 * 10 * 16 * 16,
        "in_proj_bias": 0,
        "sdpa.qk": 2 * 4 * 5 * 5 * 4,
        "sdpa.av": 2 * 4 * 5 * 5 * 4,
        "out_proj": 10 * 16 * 16,
    }
    assert df.n_params.sum() == sum(p.numel() for p in mha.parameters())


def test_model_that_is_itself_a_leaf():
    df = inspect(torch.nn.Linear(4, 3), torch.randn(2, 4), ras={"(root)": "block"}, encode=False)
    assert list(df.layer) == ["(root)"] and df.macs.iloc[0] == 24 and df.ras.iloc[0] == "block"


def test_example_input_forms():
    model = TinyAttention()
    x = torch.randn(1, 4, 8)
    a = inspect(model, x, encode=False)
    b = inspect(model, (x,), encode=False)
    c = inspect(model, {"x": x}, encode=False)
    assert a.macs.tolist() == b.macs.tolist() == c.macs.tolist()
    assert (
        a.attrs["input_shapes"] == [(1, 4, 8)] and a.attrs["fpr_threshold"] == DEFAULT_FPR_THRESHOLD
    )


def test_choose_ras_and_threshold():
    assert choose_ras(DEFAULT_FPR_THRESHOLD) == "block"
    assert choose_ras(np.nextafter(DEFAULT_FPR_THRESHOLD, 0)) == "element"
    assert choose_ras(float("nan")) == ""
    with pytest.raises(ValueError, match="fpr_threshold"):
        choose_ras(3.0, -1)
    model, x = TinyMLP(), torch.randn(1, 8)
    assert list(inspect(model, x, encode=False).ras) == ["element", "element"]  # FPr ~2 at batch 1
    assert list(inspect(model, x, fpr_threshold=1.5, encode=False).ras) == ["block", "block"]
    # batch 32: each FC weight is read 32 times -> block at the default threshold
    assert list(inspect(model, torch.randn(32, 8), encode=False).ras) == ["block", "block"]
    with pytest.raises(ValueError, match="fpr_threshold"):
        inspect(model, x, fpr_threshold=float("nan"), encode=False)


def test_overrides():
    model, x = TinyCNN(), torch.randn(1, 1, 8, 8)
    base = inspect(model, x, encode=False).set_index("layer").ras
    assert base.to_dict() == {"conv": "block", "bn": "element", "fc": "element"}
    over = (
        inspect(model, x, ras={"conv": "element", "fc": "block"}, encode=False)
        .set_index("layer")
        .ras
    )
    assert over.to_dict() == {"conv": "element", "bn": "element", "fc": "block"}
    with pytest.raises(
        ValueError, match=r"unknown layer\(s\) \['fcc'\].*'fc'.*valid layers \(3\): conv, bn, fc"
    ):
        inspect(model, x, ras={"fcc": "block"}, encode=False)
    with pytest.raises(ValueError, match="'block' or 'element'"):
        inspect(model, x, ras={"fc": "blockwise"}, encode=False)
    with pytest.raises(ValueError, match="unknown layer"):  # parameter-free rows have no RAS
        inspect(MatmulNet(4), torch.randn(1, 2, 4), ras={"bmm": "block"}, encode=False)
    with pytest.raises(TypeError, match="mapping"):
        inspect(model, x, ras=["fc"], encode=False)


def test_bad_inputs_name_the_layer():
    model = zoo.create_model("resnet18")
    with pytest.raises(
        ValueError, match=r"layer 'conv1' \(Conv2d\) failed.*\(1, 1, 224, 224\)"
    ) as info:
        inspect(model, torch.randn(1, 1, 224, 224), encode=False)
    assert isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(ValueError, match=r"layer 'fc1' \(Linear\) failed"):
        inspect(zoo.create_model("lenet300_100"), torch.randn(1, 3, 28, 28), encode=False)
    with pytest.raises(ValueError, match=r"layer 'body\.1' \(_Boom\) failed.*boom"):
        inspect(Raises(), torch.randn(2, 4), encode=False)


def test_inspect_does_not_change_the_model():
    model = TinyCNN().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    inspect(model, torch.randn(2, 1, 8, 8), encode=False)
    assert model.training and model.bn.training
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_sparsity_and_macs_nonzero_on_pruned_model():
    model = TinyCNN()
    with torch.no_grad():
        model.conv.weight.view(-1)[::3] = 0  # 12 of 36 conv weights
        model.conv.bias.zero_()  # 4 biases
        model.fc.weight[:, :10] = 0  # 30 of 48 fc weights
    df = inspect(model, torch.randn(2, 1, 8, 8), encode=False).set_index("layer")
    assert df.sparsity["conv"] == pytest.approx((12 + 4) / 40)
    assert df.sparsity["fc"] == pytest.approx(30 / 51)
    # conv: every weight is used N*H*W = 2*64 times; fc: batch 2 times
    assert df.macs["conv"] == 36 * 128 and df.macs_nonzero["conv"] == 24 * 128
    assert df.macs["fc"] == 2 * 48 and df.macs_nonzero["fc"] == 2 * 18
    assert df.macs_nonzero["bn"] == 0


def test_torch_prune_masks_count_in_macs_nonzero():
    # torch.nn.utils.prune computes weight = weight_orig * weight_mask in a pre-hook, so the
    # conv/linear multiplies a non-parameter tensor; its MACs still belong to the layer's row
    from torch.nn.utils import prune

    model = TinyCNN()
    prune.l1_unstructured(model.conv, "weight", amount=0.5)  # 18 of 36
    prune.l1_unstructured(model.fc, "weight", amount=0.25)  # 12 of 48
    df = inspect(model, torch.randn(2, 1, 8, 8), encode=False).set_index("layer")
    assert list(df.index) == ["conv", "bn", "fc"]
    assert df.macs["conv"] == 36 * 128 and df.macs_nonzero["conv"] == 18 * 128
    assert df.macs["fc"] == 2 * 48 and df.macs_nonzero["fc"] == 2 * 36
    assert df.sparsity["conv"] == 0  # the stored weight_orig is dense; the mask is a buffer


def test_group_table_rules():
    df = inspect(TinyCNN(), torch.randn(1, 1, 8, 8), encode=False)
    t = group_table(df, {"features": ["conv", "bn"]})
    assert list(t.group) == ["features", "other", "Total"]
    assert t.n_params.tolist() == [40 + 8, 51, 99] and t.ras.tolist() == ["block", "element", ""]
    assert list(group_table(df, {"c": "c*"}, total=False).group) == ["c", "other"]
    with pytest.raises(ValueError, match="match group"):
        group_table(df, {"a": "conv", "b": ["conv"]})
    with pytest.raises(ValueError, match="no paper table"):
        paper_table(df, "tinycnn")


def test_public_entry_point():
    assert sckit.inspect is inspect


# --- encode=True: needs sckit.tensor_io.encode_tensor (helper "ras") -----------------------


def test_encoded_sizes_are_the_real_encodings():
    from sckit.tensor_io import encode_tensor

    model = TinyCNN()
    df = inspect(model, torch.randn(1, 1, 8, 8), ras={"fc": "block"}).set_index("layer")
    for layer, mod in [("conv", model.conv), ("fc", model.fc), ("bn", model.bn)]:
        kind = df.ras[layer]
        rs = [encode_tensor(p.detach(), kind=kind) for p in mod.parameters()]
        assert df.succinct_bytes[layer] == sum(r.nbytes for r in rs)
        h0 = (
            sum(r.h0_bits * p.numel() for r, p in zip(rs, mod.parameters(), strict=True))
            / df.n_params[layer]
        )
        assert df.h0_bits[layer] == pytest.approx(h0)
    assert (df.dense_bytes == 4 * df.n_params).all()
    assert df.succinct_bytes.notna().all() and (df.h0_bits <= 32).all()


def test_encoded_tied_weights_once_and_param_free_rows_empty():
    df = inspect(TiedLM(), torch.tensor([[1, 2]])).set_index("layer")
    assert df.dense_bytes.sum() == 4 * 112
    df = inspect(MatmulNet(4), torch.randn(1, 2, 4))
    assert math.isnan(df.succinct_bytes.iloc[1]) and df.succinct_bytes.iloc[0] > 0


def test_encode_false_leaves_sizes_nan():
    df = inspect(TinyMLP(), torch.randn(1, 8), encode=False)
    assert df.succinct_bytes.isna().all() and df.h0_bits.isna().all()
