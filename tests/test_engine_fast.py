"""sckit.compress(..., mode="fast"): weights stay bit-exact, outputs move by reassociation only.

Fast mode lets each plain Linear/Conv2d compute in the layout measured fastest for it
(``sckit.engine.kernels``, chosen by ``sckit.engine.plan``). These tests hold it to its contract
on pruned zoo models and on models built to stress the engine: the stored weights equal the
source's bit for bit, outputs lie within ``fast_tolerance``, digits predictions do not change, the
plan follows what was measured and says why a layer runs dense, and a fast model goes back to a
plain one (``to_dense``) cleanly.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import sckit
from sckit import data, zoo
from sckit.engine import bit_equal
from sckit.engine.core import check_mode, fast_tolerance, max_abs_diff
from sckit.engine.kernels import KERNELS
from sckit.engine.plan import MARGIN

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta:UserWarning"),
]

DIGITS = ("lenet300_100", "lenet5", "small_resnet")
PRUNINGS = {"magnitude": {"amount": 0.9}, "filter": {"amount": 0.5, "method": "filter_l1"}}
FAST_COLUMNS = ("kernel", "kernel_why", "fast_bytes", "resident_bytes")
ATTRS = ("mode", "dense_bytes", "nbytes", "fast_bytes", "cache_bytes", "resident_bytes",
         "peak_scratch_bytes", "verify")


def _state_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(bit_equal(a[k], b[k]) for k in a)


def _within_tolerance(sm: sckit.SuccinctModel, out, ref) -> None:
    tol = fast_tolerance(ref, sm.max_reduction)
    diff = max_abs_diff(out, ref)
    assert diff <= tol, f"fast output off by {diff:.3g}, tolerance {tol:.3g}"


def _source_out(model: nn.Module, x):
    with torch.no_grad():
        return model(**x) if isinstance(x, dict) else model(x)


def _plan_consistent(sm: sckit.SuccinctModel) -> None:
    """Every layer's choice follows its measurement, the chosen kernel is what runs, and a layer
    that runs dense says why."""
    modules = dict(sm.module.named_modules())
    assert sm.plan, "fast mode has a plan"
    for unit, lp in sm.plan.items():
        assert lp["kernel"] in KERNELS and isinstance(lp["why"], str) and lp["why"], (unit, lp)
        installed = "forward" in vars(modules[unit])
        if lp["kernel"] == "dense":
            assert not installed, unit
        elif lp.get("chain"):
            # kept shrunk across layers: chosen by timing the whole forward (test_engine_chains)
            assert installed and lp["why"].startswith("chain:"), (unit, lp)
        else:
            ms = lp["ms"]
            kernel_ms = {k: v for k, v in ms.items() if k in KERNELS and k != "dense"}
            assert ms[lp["kernel"]] == min(kernel_ms.values()), (unit, lp)
            assert ms[lp["kernel"]] <= MARGIN * ms["dense_route"], (unit, lp)
            assert ms["dense_route"] >= ms["dense"], (unit, lp)
            assert installed and vars(modules[unit])["forward"].name == lp["kernel"], unit


@pytest.fixture(scope="module")
def digits_test() -> tuple[torch.Tensor, torch.Tensor]:
    x, y = data.digits_split(28, 0)[2:]
    return x, y


@pytest.fixture(scope="module", params=[(m, p) for m in DIGITS for p in PRUNINGS],
                ids=lambda mp: f"{mp[0]}-{mp[1]}")
def pruned_fast(request, one_torch_thread):
    """(pruned source, its fast SuccinctModel, the example input) for a digits zoo model."""
    name, how = request.param
    model = zoo.create_model(name, pretrained="digits").eval()
    pruned = sckit.prune(model, **PRUNINGS[how]).eval()
    x = data.calibration_batch(32)
    return pruned, sckit.compress(pruned, x, mode="fast"), x


# -- zoo models ----------------------------------------------------------------------------------
def test_weights_bit_exact_outputs_within_tolerance(pruned_fast):
    pruned, sm, x = pruned_fast
    assert sm.mode == "fast"
    assert _state_equal(sm.to_dense().state_dict(), pruned.state_dict())
    assert _state_equal(sm.state_dict(), pruned.state_dict())
    _within_tolerance(sm, sm(x), _source_out(pruned, x))
    # an input of another batch size than the calibration one
    x5 = data.digits_split(28, 0)[2][:5]
    _within_tolerance(sm, sm(x5), _source_out(pruned, x5))
    _plan_consistent(sm)


def test_digits_predictions_unchanged(pruned_fast, digits_test):
    pruned, sm, _ = pruned_fast
    x, _ = digits_test
    # predict() puts the model back in the training mode it found: sm.eval() first, or a fresh
    # SuccinctModel (training=True, see test_training_flag_mirrors_wrapped_model) would leave its
    # BatchNorms in training mode for the tests after this one
    sm.eval()
    assert torch.equal(data.predict(sm, x), data.predict(pruned, x))
    assert data.evaluate(sm) == data.evaluate(pruned)
    assert not any(m.training for m in sm.modules())


def test_training_flag_mirrors_wrapped_model():
    m = zoo.create_model("lenet5").eval()
    sm = sckit.compress(m, torch.randn(2, 1, 28, 28), verify=False)
    assert sm.training == sm.module.training


def test_report_fast_columns(pruned_fast):
    _, sm, x = pruned_fast
    sm(x)
    df = sm.report()
    for col in FAST_COLUMNS:
        assert col in df.columns
    for key in ATTRS:
        assert key in df.attrs, key
    a = df.attrs
    assert a["mode"] == "fast"
    assert a["fast_bytes"] == sm.fast_nbytes == int(df["fast_bytes"].sum())
    assert a["resident_bytes"] == sm.resident_nbytes == a["nbytes"] + a["cache_bytes"] + a["fast_bytes"]
    assert a["verify"]["max_abs_diff"] <= a["verify"]["tolerance"]
    assert set(df["kernel"]) <= set(KERNELS)
    for row in df.itertuples():
        plan = sm.plan.get(row.layer)
        if row.type in ("Linear", "Conv2d"):
            assert plan is not None and row.kernel == plan["kernel"] and row.kernel_why == plan["why"]
            assert row.kernel_why
        assert (row.fast_bytes > 0) == (row.kernel != "dense"), row
        assert row.resident_bytes >= row.bytes + row.fast_bytes


def test_to_dense_of_fast_model(pruned_fast):
    pruned, sm, x = pruned_fast
    dense = sm.to_dense()
    assert not any("forward" in vars(m) for m in dense.modules())
    assert bit_equal(_source_out(dense, x), _source_out(pruned, x))
    # the fast model itself is untouched: same kernels installed, same outputs
    n_fast = sum(lp["kernel"] != "dense" for lp in sm.plan.values())
    assert sum("forward" in vars(m) for m in sm.module.modules()) == n_fast
    _within_tolerance(sm, sm(x), _source_out(pruned, x))


def test_apply_plan_on_a_second_copy(pruned_fast):
    pruned, sm, x = pruned_fast
    other = sckit.compress(pruned, x)
    assert other.mode == "exact" and other.plan == {}
    other.apply_plan(sm.plan)
    assert other.mode == "fast"
    assert {u: p["kernel"] for u, p in other.plan.items()} == {u: p["kernel"] for u, p in sm.plan.items()}
    mods = dict(other.module.named_modules())
    for unit, lp in sm.plan.items():
        k = vars(mods[unit]).get("forward")
        assert (k.name if k is not None else "dense") == lp["kernel"]
    # the same kernels from the same exact weights compute the same bits
    assert bit_equal(other(x), sm(x))
    assert other.fast_nbytes == sm.fast_nbytes  # after a forward each: border maps are lazy
    assert _state_equal(other.to_dense().state_dict(), pruned.state_dict())


# -- the choice follows the measurement ----------------------------------------------------------
class Wide(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(1024, 1024)
        self.fc2 = nn.Linear(1024, 1024)
        self.head = nn.Linear(1024, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.relu(self.fc2(F.relu(self.fc1(x)))))


def test_heavily_pruned_layers_run_sparse():
    """1% of fc1's filters kept (structured), 1% of fc2's weights kept (unstructured), batch
    64: dense computes ~100x the useful work, so each must run a fast kernel."""
    torch.manual_seed(0)
    m = Wide().eval().requires_grad_(False)
    g = torch.Generator().manual_seed(0)
    m.fc1.weight[torch.randperm(1024, generator=g)[10:]] = 0
    m.fc2.weight.mul_(torch.rand(1024, 1024, generator=g) < 0.01)
    x = torch.randn(64, 1024, generator=g)
    sm = sckit.compress(m, x, mode="fast")
    _plan_consistent(sm)
    assert sm.plan["fc1"]["kernel"] != "dense", sm.plan["fc1"]
    assert sm.plan["fc2"]["kernel"] != "dense", sm.plan["fc2"]
    assert sm.report().set_index("layer").loc["fc1", "kernel"] == sm.plan["fc1"]["kernel"]
    _within_tolerance(sm, sm(x), _source_out(m, x))
    assert _state_equal(sm.to_dense().state_dict(), m.state_dict())


def test_calibrate_twice():
    torch.manual_seed(0)
    m = sckit.prune(Wide().eval(), 0.95)
    x = torch.randn(32, 1024)
    sm = sckit.compress(m, x, mode="fast")
    first = sm.plan
    sm.calibrate(x)
    sm.calibrate(x[:4])
    assert sm.plan.keys() == first.keys()
    _plan_consistent(sm)
    n_fast = sum(lp["kernel"] != "dense" for lp in sm.plan.values())
    assert sum("forward" in vars(mod) for mod in sm.module.modules()) == n_fast
    assert len(sm._kernels) == n_fast
    _within_tolerance(sm, sm(x), _source_out(m, x))
    assert _state_equal(sm.to_dense().state_dict(), m.state_dict())


# -- modes and models nothing speeds up ----------------------------------------------------------
def test_unknown_mode():
    m = nn.Linear(4, 4).eval()
    with pytest.raises(ValueError, match="'exact', 'fast'") as info:
        sckit.compress(m, torch.randn(1, 4), mode="quick")
    assert "quick" in str(info.value)
    with pytest.raises(ValueError, match="'exact', 'fast'"):
        check_mode("FAST")
    assert check_mode("fast") == "fast"


class DenseNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 8 * 8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.relu(self.conv(x)).flatten(1))


def test_nothing_to_speed_up_runs_dense():
    torch.manual_seed(0)
    m = DenseNet().eval()
    x = torch.randn(4, 3, 8, 8)
    sm = sckit.compress(m, x, mode="fast", ras="block")
    assert sm.mode == "fast" and sm.max_reduction == 0 and sm.fast_nbytes == 0
    for unit in ("conv", "fc"):
        assert sm.plan[unit]["kernel"] == "dense"
        assert sm.plan[unit]["why"]
    df = sm.report().set_index("layer")
    assert (df["kernel"] == "dense").all() and (df["fast_bytes"] == 0).all()
    for unit in ("conv", "fc"):
        # random weights have no zeros, or (when RAS does not pay) stay unencoded
        why = df.loc[unit, "kernel_why"]
        assert why in ("no all-zero filter; no zero weights", "weight not encoded"), why
    assert df.attrs["verify"]["tolerance"] == 0.0 and df.attrs["verify"]["max_abs_diff"] == 0.0
    # nothing re-laid-out: fast mode is the exact computation
    assert bit_equal(sm(x), _source_out(m, x))


# -- models that read weights their own way ------------------------------------------------------
class TiedAttention(nn.Module):
    """An Embedding whose weight the head shares (tied), nn.MultiheadAttention (reads
    out_proj.weight without calling out_proj), and plain Linears around them."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(100, 64)
        self.mha = nn.MultiheadAttention(64, 2, batch_first=True)
        self.up = nn.Linear(64, 256)
        self.down = nn.Linear(256, 64)
        self.head = nn.Linear(64, 100, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        h = self.embed(idx)
        a, _ = self.mha(h, h, h, need_weights=False)
        h = h + self.down(F.relu(self.up(a)))
        return self.head(h)


def test_tied_weight_and_multihead_attention():
    torch.manual_seed(0)
    m = TiedAttention().eval().requires_grad_(False)
    g = torch.Generator().manual_seed(1)
    for lin in (m.up, m.down, m.mha.out_proj):
        lin.weight.mul_(torch.rand(lin.weight.shape, generator=g) < 0.05)
        lin.weight[: lin.weight.shape[0] // 2] = 0
    m.embed.weight.mul_(torch.rand(m.embed.weight.shape, generator=g) < 0.1)
    m.mha.in_proj_weight.mul_(torch.rand(m.mha.in_proj_weight.shape, generator=g) < 0.1)
    idx = torch.randint(0, 100, (16, 24), generator=g)
    sm = sckit.compress(m, idx, mode="fast")
    _plan_consistent(sm)
    plan = sm.plan
    # the tied head and the attention's out_proj cannot take a kernel: they run dense and say why
    assert plan.get("head", {"kernel": "dense"})["kernel"] == "dense"
    assert plan.get("mha.out_proj", {"kernel": "dense"})["kernel"] == "dense"
    assert "forward" not in vars(m.head) and "forward" not in vars(sm.module.mha.out_proj)
    ref = _source_out(m, idx)
    _within_tolerance(sm, sm(idx), ref)
    other = torch.randint(0, 100, (3, 7), generator=g)
    _within_tolerance(sm, sm(other), _source_out(m, other))
    dense = sm.to_dense()
    assert _state_equal(dense.state_dict(), m.state_dict())
    assert dense.head.weight is dense.embed.weight
    assert bit_equal(_source_out(dense, idx), ref)


class ViewAfterLinear(nn.Module):
    """Flattens a Linear's (B, S, out) output with .view(): fine for F.linear's contiguous
    result, an error for a transposed one."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(512, 512)
        self.head = nn.Linear(8 * 512, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        return self.head(y.view(y.shape[0], -1))


def test_kernel_output_layout_allows_view():
    torch.manual_seed(0)
    m = sckit.prune(ViewAfterLinear().eval(), 0.97)
    x = torch.randn(16, 8, 512)
    sm = sckit.compress(m, x, mode="fast")
    for kernel in ("csr", "shrunk"):
        # whichever was measured fastest, every kernel must work here
        sm.apply_plan({"fc": {"kernel": kernel, "why": "forced by the test", "ms": {}}})
        _within_tolerance(sm, sm(x), _source_out(m, x))


# -- HuggingFace transformers (small configs, random weights: nothing is downloaded) --------------
def _prune_linears(model: nn.Module, keep: float = 0.1, seed: int = 0) -> nn.Module:
    """Magnitude-free pruning of every 2-D weight but embeddings: random 90% zeros and half the
    rows zero, so both kernels apply."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in model.modules():
            w = getattr(mod, "weight", None)
            if isinstance(w, torch.Tensor) and w.dim() == 2 and not isinstance(mod, nn.Embedding):
                w.mul_(torch.rand(w.shape, generator=g) < keep)
                w[torch.rand(w.shape[0], generator=g) < 0.5] = 0
    return model


def test_transformers_bert_fast():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=128, vocab_size=100)
    bert = _prune_linears(transformers.BertModel(cfg).eval())
    ids = torch.randint(0, 100, (8, 32), generator=torch.Generator().manual_seed(0))
    sm = sckit.compress(bert, {"input_ids": ids}, mode="fast")
    _plan_consistent(sm)
    assert "encoder.layer.0.intermediate.dense" in sm.plan
    out, ref = sm(input_ids=ids), _source_out(bert, {"input_ids": ids})
    _within_tolerance(sm, out.last_hidden_state, ref.last_hidden_state)
    _within_tolerance(sm, out.pooler_output, ref.pooler_output)
    assert _state_equal(sm.to_dense().state_dict(), bert.state_dict())


def test_transformers_gpt2_conv1d_runs_dense():
    """GPT-2's projections are transformers' Conv1D (x @ W + b with W stored (in, out)): no
    fast kernel knows that layout, so they run dense, with the reason in the plan."""
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    # use_cache=False: the output would hold a DynamicCache object, which compress's exact
    # output check cannot compare
    cfg = transformers.GPT2Config(n_embd=64, n_layer=2, n_head=2, vocab_size=100, n_positions=64,
                                  bos_token_id=0, eos_token_id=0, use_cache=False)
    gpt = _prune_linears(transformers.GPT2Model(cfg).eval())
    ids = torch.randint(0, 100, (4, 16), generator=torch.Generator().manual_seed(0))
    sm = sckit.compress(gpt, {"input_ids": ids}, mode="fast")
    conv1d = [n for n, mod in gpt.named_modules() if type(mod).__name__ == "Conv1D"]
    assert conv1d
    for unit in conv1d:
        assert sm.plan[unit]["kernel"] == "dense"
        assert "Conv1D" in sm.plan[unit]["why"]
    assert sm.fast_nbytes == 0
    out, ref = sm(input_ids=ids), _source_out(gpt, {"input_ids": ids})
    assert bit_equal(out.last_hidden_state, ref.last_hidden_state)
    assert _state_equal(sm.to_dense().state_dict(), gpt.state_dict())


def test_decode_ahead_and_cache_bytes_validated_by_name():
    m = torch.nn.Sequential(torch.nn.Linear(8, 8)).eval()
    x = torch.randn(2, 8)
    for bad in (-1, 1.5, True, float("nan")):
        with pytest.raises(ValueError, match="cache_bytes"):
            sckit.compress(m, x, cache_bytes=bad)
    sm = sckit.compress(m, x)
    with pytest.raises(ValueError, match="decode_ahead"):
        sm.decode_ahead = "sometimes"
    assert sm.decode_ahead == "auto"


def test_speedup_table_rows_and_bad_configurations():
    from sckit.engine.speed import configured, speedup_table

    m = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 8)).eval()
    df = speedup_table(m, torch.randn(16, 64), configs=["magnitude 95%", "4-bit"], repeats=2)
    assert list(df.config) == ["magnitude 95%", "4-bit"] and bool(df.weights_exact.all())
    assert (df[["dense_ms", "alone_ms", "ours_ms"]] > 0).all().all()
    for bad in ("magnitude", "x-bit", "magnitude ninety%", 0.9):
        with pytest.raises(ValueError, match="configuration"):
            configured(m, bad)
