"""sckit.sweep: grid grammar, measured rows, cache resume, executors (process pool, Dask)."""

from __future__ import annotations

import json
import multiprocessing as mp
import warnings
from concurrent.futures import ProcessPoolExecutor

import pandas as pd
import pytest
import torch
from torch import nn

from sckit.sweeps import TIMING_COLUMNS, sweep
from sckit.sweeps.cache import SweepCache
from sckit.sweeps.grid import config_key, expand_grid


# --------------------------------------------------------------------------- tiny fixtures
def tiny_model(seed: int = 0) -> nn.Module:
    """A small MLP with weights on a 1/16 grid (like a quantized model), so RAS beats dense."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 10)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.round(p * 16) / 16)
    return model


def tiny_input() -> torch.Tensor:
    return torch.randn(4, 16, generator=torch.Generator().manual_seed(1))


def tiny_eval(model: nn.Module) -> float:
    """Agreement with fixed labels on fixed data: deterministic, depends on the weights."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(256, 16, generator=g)
    y = torch.randint(0, 10, (256,), generator=g)
    with torch.no_grad():
        return float((model(x).argmax(1) == y).double().mean())


class CountingEval:
    """evaluate callback that counts its calls and can fail at call number ``fail_at``."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls = 0
        self.fail_at = fail_at

    def __call__(self, model: nn.Module) -> float:
        self.calls += 1
        if self.fail_at is not None and self.calls == self.fail_at:
            raise KeyboardInterrupt("simulated interruption")
        return tiny_eval(model)


GRID = {"ras": ["element", "block"], "prune": [None, ("magnitude", 0.5)]}
FAST = {"repeats": 2, "warmup": 1, "progress": False, "threads": 1}


# --------------------------------------------------------------------------- grid grammar
def test_expand_grid_order_and_defaults():
    cfgs = expand_grid({"ras": ["auto", {"fpr_threshold": 2}], "prune": [None, ("magnitude", 0.5)],
                        "quantize": ("kmeans", 4)})
    assert [c["kind"] for c in cfgs] == ["dense"] + ["succinct"] * 4
    assert [c["label"] for c in cfgs[1:]] == [
        "quant=kmeans:4 ras=auto",
        "quant=kmeans:4 ras=fpr>=2",
        "prune=magnitude:0.5 quant=kmeans:4 ras=auto",
        "prune=magnitude:0.5 quant=kmeans:4 ras=fpr>=2",
    ]
    assert cfgs[2]["ras"] == "auto" and cfgs[2]["fpr_threshold"] == 2.0
    assert [c["label"] for c in expand_grid({})] == ["dense", "ras=auto"]
    base = expand_grid({"baselines": ["deep_compression", ("deepsz", {"error_bound": 0.01})]})
    assert [c["label"] for c in base] == ["dense", "ras=auto", "deep_compression", "deepsz(error_bound=0.01)"]


@pytest.mark.parametrize(
    ("grid", "match"),
    [
        ({"pruning": [None]}, "unknown grid key 'pruning'"),
        ({"ras": ["fast"]}, "'fast'"),
        ({"ras": [{"fpr": 1}]}, "fpr_threshold"),
        ({"ras": [{"fpr_threshold": -1}]}, "fpr_threshold"),
        ({"prune": [("magnitude", 1.0)]}, "amount 1.0"),
        ({"prune": [("random", 0.5)]}, "'random'"),
        ({"prune": [0.5]}, r"\(method, amount\)"),
        ({"quantize": [("kmeans", 0)]}, "bits 0"),
        ({"quantize": [("kmeans", 4.0)]}, "bits 4.0"),
        ({"quantize": [("fp8", 8)]}, "'fp8'"),
        ({"ras": []}, "empty"),
        ({"ras": 3}, "list of options"),
        ({"ras": ["auto", "auto"]}, "twice"),
        ({"baselines": [3]}, "baselines"),
        ({"mode": ["quick"]}, r"grid\['mode'\] option 'quick'.*'exact', 'fast'"),
        ({"mode": [None]}, r"grid\['mode'\] option None"),
        ({"mode": ["Fast"]}, r"grid\['mode'\] option 'Fast'"),
        ({"mode": []}, r"grid\['mode'\] is empty"),
        ({"mode": 1}, r"grid\['mode'\] must be a list"),
        ({"mode": ["fast", "fast"]}, "twice"),
        ([("ras", "auto")], "dict of axes"),
    ],
)
def test_invalid_grids(grid, match):
    with pytest.raises(ValueError, match=match):
        expand_grid(grid)


def test_invalid_sweep_args():
    m, x = tiny_model(), tiny_input()
    with pytest.raises(ValueError, match="unknown grid key"):
        sweep(m, {"bits": [4]}, example_input=x, progress=False)
    with pytest.raises(ValueError, match="repeats"):
        sweep(m, {}, example_input=x, repeats=0, progress=False)
    with pytest.raises(TypeError, match="nn.Module"):
        sweep("lenet5", {}, example_input=x, progress=False)
    with pytest.raises(ValueError, match="dict of axes"):
        sweep(m, [("ras", "auto")], example_input=x, progress=False)
    with pytest.raises(TypeError, match="executor"):
        sweep(m, {}, example_input=x, executor=object(), progress=False)


def test_mode_axis_expansion():
    from sckit.engine import MODES as ENGINE_MODES
    from sckit.sweeps.grid import CONFIG_COLUMNS, MODES

    assert MODES == ENGINE_MODES and "mode" in CONFIG_COLUMNS
    # default: exact only, and the labels are those of a grid without the axis
    assert [c["mode"] for c in expand_grid({"ras": ["auto", "block"]})] == [None, "exact", "exact"]
    assert [c["label"] for c in expand_grid({"mode": "fast"})] == ["dense", "ras=auto mode=fast"]
    grid = {"ras": ["auto", "block"], "prune": [None, ("magnitude", 0.9)], "quantize": ("kmeans", 4),
            "mode": ["exact", "fast"], "baselines": ["deep_compression"]}
    cfgs = expand_grid(grid)
    assert len(cfgs) == 1 + 2 * 1 * 2 * 2 + 1
    # the dense reference and the baselines run as they are: no mode
    assert cfgs[0]["mode"] is None and cfgs[-1]["mode"] is None and cfgs[-1]["kind"] == "baseline"
    succ = cfgs[1:-1]
    assert [c["mode"] for c in succ] == ["exact", "fast"] * 4  # innermost: the two modes side by side
    assert succ[6]["label"] == "prune=magnitude:0.9 quant=kmeans:4 ras=block"
    assert succ[7]["label"] == "prune=magnitude:0.9 quant=kmeans:4 ras=block mode=fast"
    assert len({c["label"] for c in cfgs}) == len(cfgs)
    ctx = {"model": "m"}
    keys = [config_key(c, ctx) for c in cfgs]
    assert len(set(keys)) == len(keys)
    for ex, fa in zip(succ[::2], succ[1::2], strict=True):
        assert {k: v for k, v in ex.items() if k not in ("mode", "label")} == \
            {k: v for k, v in fa.items() if k not in ("mode", "label")}
        assert config_key(ex, ctx) != config_key(fa, ctx)
    # counts multiply: 1 dense + 3 prune options x 2 modes
    assert len(expand_grid({"prune": [None, ("magnitude", 0.5), ("magnitude", 0.9)], "mode": ["exact", "fast"]})) == 7


def test_exact_mode_keeps_the_old_cache_keys():
    # literals from sckit.sweeps.grid before the mode axis existed (commit 3ea4bb7): caches written
    # then still hit for exact rows
    ctx = {"model": "m"}
    cfgs = expand_grid({"ras": ["block"], "prune": [None, ("magnitude", 0.9)], "mode": ["exact", "fast"]})
    assert [config_key(c, ctx) for c in cfgs if c["mode"] != "fast"] == [
        "244f6b261baee6c47dd5eaa26d817986",
        "dcc74b640cfb3f26bb2a4972173ccd08",
        "92b3c1b3a1af342adb1790af944e9a20",
    ]
    assert [c["label"] for c in cfgs] == [
        "dense", "ras=block", "ras=block mode=fast",
        "prune=magnitude:0.9 ras=block", "prune=magnitude:0.9 ras=block mode=fast",
    ]


def test_config_key_is_stable():
    cfg = expand_grid({"ras": "block"})[1]
    # a literal: the key must not change between processes, runs or versions of Python
    assert config_key(cfg, {"model": "m"}) == config_key(dict(reversed(cfg.items())), {"model": "m"})
    assert config_key(cfg, {"model": "m"}) != config_key(cfg, {"model": "n"})
    assert config_key(cfg) != config_key(expand_grid({"ras": "element"})[1])


# --------------------------------------------------------------------------- cache file
def test_cache_truncated_last_line(tmp_path):
    path = tmp_path / "c.jsonl"
    c = SweepCache(path)
    c.append("a", {"x": 1.5, "nan": float("nan")})
    c.append("b", {"x": 2})
    with open(path, "ab") as fh:
        fh.write(b'{"v": 1, "key": "c", "ro')  # an interrupted write
    c2 = SweepCache(path)
    with pytest.warns(RuntimeWarning, match="truncated last line"):
        rows = c2.load()
    assert rows == {"a": {"x": 1.5, "nan": None}, "b": {"x": 2}}
    c2.append("c", {"x": 3})  # cuts the fragment first
    lines = path.read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["a", "b", "c"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert SweepCache(path).load()["c"] == {"x": 3}


def test_cache_path_is_dir(tmp_path):
    with pytest.raises(ValueError, match="directory"):
        SweepCache(tmp_path)


# --------------------------------------------------------------------------- measured sweeps
@pytest.fixture(scope="module")
def engine():
    """The sweeps need the engine's dependencies (written by other helpers at the same time)."""
    pytest.importorskip("sckit.tensor_io", reason="sckit.tensor_io (engine dependency) not written yet")
    pytest.importorskip("sckit.inspection", reason="sckit.inspection not written yet")
    return True


def _non_timing(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=list(TIMING_COLUMNS)).reset_index(drop=True)


@pytest.fixture(scope="module")
def base_run(engine):
    return sweep(tiny_model(), GRID, example_input=tiny_input(), evaluate=tiny_eval, **FAST)


def test_sweep_rows(base_run):
    from sckit.sweeps.worker import state_bytes, weights_hash
    from sckit.transforms import prune

    df = base_run
    model = tiny_model()
    dense_bytes = state_bytes(model)
    assert df["label"].tolist() == [
        "dense", "ras=element", "ras=block",
        "prune=magnitude:0.5 ras=element", "prune=magnitude:0.5 ras=block",
    ]
    dense = df.iloc[0]
    assert dense["size_bytes"] == dense_bytes and dense["compression_ratio"] == 1.0
    assert dense["speedup"] == 1.0 and pd.isna(dense["roundtrip_ok"])
    assert dense["weights_hash"] == weights_hash(model)
    succ = df[df["kind"] == "succinct"]
    assert succ["roundtrip_ok"].all()
    assert (succ["size_bytes"] < dense_bytes).all()  # weights on a grid: RAS is smaller
    assert (df["compression_ratio"] == dense_bytes / df["size_bytes"]).all()
    assert (df["latency_ms"] > 0).all() and (df["batch_size"] == 4).all() and (df["threads"] == 1).all()
    assert (df["speedup"] == df["latency_ms"].iloc[0] / df["latency_ms"]).all()
    assert df["error"].isna().all() and not df["cached"].any()
    # accuracy is measured on the model each configuration produced
    assert dense["accuracy"] == tiny_eval(model)
    pruned = prune(model, 0.5, method="magnitude")
    assert (df.loc[df["prune_method"] == "magnitude", "accuracy"] == tiny_eval(pruned)).all()
    assert (df.loc[df["prune_method"] == "magnitude", "weights_hash"] == weights_hash(pruned)).all()
    # half the weights zero: the sparse RAS forms beat the unpruned ones
    assert (df["size_bytes"].iloc[3:5].to_numpy() < df["size_bytes"].iloc[1:3].to_numpy()).all()


def test_sweep_is_deterministic(base_run):
    again = sweep(tiny_model(), GRID, example_input=tiny_input(), evaluate=tiny_eval, **{**FAST, "progress": True})
    pd.testing.assert_frame_equal(_non_timing(again), _non_timing(base_run))


def test_resume_after_interruption(engine, tmp_path):
    cache = tmp_path / "sweep.jsonl"
    kw = dict(example_input=tiny_input(), cache=cache, **FAST)
    n = len(expand_grid(GRID))
    first = CountingEval(fail_at=3)  # configurations 0 and 1 finish, 2 is interrupted
    with pytest.raises(KeyboardInterrupt):
        sweep(tiny_model(), GRID, evaluate=first, **kw)
    assert len(cache.read_text().splitlines()) == 2

    second = CountingEval()
    df = sweep(tiny_model(), GRID, evaluate=second, **kw)
    assert second.calls == n - 2  # only the remaining configurations ran
    assert df["cached"].tolist() == [True, True] + [False] * (n - 2)
    assert len(cache.read_text().splitlines()) == n

    third = CountingEval()
    again = sweep(tiny_model(), GRID, evaluate=third, **kw)
    assert third.calls == 0 and again["cached"].all()  # a repeated sweep is free
    pd.testing.assert_frame_equal(
        again.drop(columns=["cached"]), df.drop(columns=["cached"]), check_exact=True
    )

    # a write cut short: that one configuration runs again, with a warning
    data = cache.read_bytes()
    cache.write_bytes(data[: len(data) - 40])
    fourth = CountingEval()
    with pytest.warns(RuntimeWarning, match="truncated"):
        sweep(tiny_model(), GRID, evaluate=fourth, **kw)
    assert fourth.calls == 1
    assert all(json.loads(line)["key"] for line in cache.read_text().splitlines())

    # a different model (other weights) does not reuse the rows
    fifth = CountingEval()
    sweep(tiny_model(seed=1), GRID, evaluate=fifth, **kw)
    assert fifth.calls == n


def test_on_error_record(engine):
    df = sweep(tiny_model(), {"ras": "block"}, example_input=tiny_input(),
               evaluate=_fail_second(), on_error="record", **FAST)
    assert df["error"].isna().tolist() == [True, False]
    assert "simulated" in df["error"].iloc[1] and pd.isna(df["size_bytes"].iloc[1])


@pytest.mark.parametrize("result", ["0.9", float("nan"), True, None])
def test_an_evaluate_returning_no_number_is_an_error(engine, result):
    df = sweep(tiny_model(), {"ras": "block"}, example_input=tiny_input(),
               evaluate=lambda m: result, on_error="record", **FAST)
    assert df["error"].str.contains("evaluate\\(model\\) must return a").all(), df["error"].tolist()
    assert df["accuracy"].isna().all()


def test_latency_quartiles_and_threads(base_run):
    df = base_run
    assert (df.latency_min_ms <= df.latency_q1_ms).all()
    assert (df.latency_q1_ms <= df.latency_ms).all() and (df.latency_ms <= df.latency_q3_ms).all()
    assert (df.threads == 1).all()


def _fail_second():
    calls = {"n": 0}

    def evaluate(model):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("simulated failure")
        return tiny_eval(model)

    return evaluate


@pytest.mark.slow
def test_process_pool_spawn_matches_in_process(base_run, tmp_path):
    cache = tmp_path / "pool.jsonl"
    kw = dict(example_input=tiny_input(), evaluate=tiny_eval, cache=cache, **FAST)
    with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as ex:
        df = sweep(tiny_model(), GRID, executor=ex, **kw)
    pd.testing.assert_frame_equal(_non_timing(df), _non_timing(base_run))
    # rows written as the workers finished them are found again by an in-process rerun
    again = sweep(tiny_model(), GRID, **kw)
    assert again["cached"].all()
    pd.testing.assert_frame_equal(again.drop(columns=["cached"]), df.drop(columns=["cached"]))


@pytest.mark.slow
def test_dask_local_cluster_matches_in_process(base_run):
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                 dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        df = sweep(tiny_model(), GRID, example_input=tiny_input(), evaluate=tiny_eval, executor=client, **FAST)
    pd.testing.assert_frame_equal(_non_timing(df), _non_timing(base_run))


MODE_GRID = {"prune": [None, ("magnitude", 0.9)], "mode": ["exact", "fast"]}


def mode_model() -> nn.Module:
    """Linear layers big enough for fast mode's kernels to matter, weights on a 1/32 grid."""
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.round(p * 32) / 32)
    return model


def test_sweep_mode_axis_end_to_end(engine, tmp_path, monkeypatch):
    import sckit.engine

    seen: list[str] = []
    real = sckit.engine.compress

    def spy(*args, **kwargs):
        sm = real(*args, **kwargs)
        assert sm.mode == kwargs.get("mode", "exact")  # fast mode calibrated the Linear layers
        seen.append(kwargs.get("mode", "exact"))
        return sm

    monkeypatch.setattr(sckit.engine, "compress", spy)
    x = torch.randn(32, 64, generator=torch.Generator().manual_seed(4))
    cache = tmp_path / "modes.jsonl"
    kw = dict(example_input=x, evaluate=tiny_eval_64, cache=cache, **FAST)
    # an exact-only sweep first: its rows are found again by the sweep over both modes
    exact_only = sweep(mode_model(), {"prune": MODE_GRID["prune"]}, **kw)
    assert seen == ["exact", "exact"]
    df = sweep(mode_model(), MODE_GRID, **kw)
    assert seen == ["exact", "exact", "fast", "fast"]  # only the fast rows ran, in fast mode
    assert df["label"].tolist() == [
        "dense", "ras=auto", "ras=auto mode=fast",
        "prune=magnitude:0.9 ras=auto", "prune=magnitude:0.9 ras=auto mode=fast",
    ]
    assert df["mode"].isna().tolist() == [True, False, False, False, False]  # the dense reference: none
    assert df["mode"].iloc[1:].tolist() == ["exact", "fast", "exact", "fast"]
    assert df["cached"].tolist() == [True, True, False, True, False]
    assert df["error"].isna().all() and df["roundtrip_ok"].iloc[1:].all()
    assert (df["batch_size"] == 32).all() and (df["latency_ms"] > 0).all()
    pd.testing.assert_frame_equal(
        df[df["mode"] != "fast"].drop(columns=["cached"]).reset_index(drop=True),
        exact_only.drop(columns=["cached"]).reset_index(drop=True))
    ex, fa = df[df["mode"] == "exact"], df[df["mode"] == "fast"]
    # the same weights, bit for bit, and the same compressed size; fast mode may hold more
    assert fa["weights_hash"].tolist() == ex["weights_hash"].tolist()
    assert ex["weights_hash"].nunique() == 2  # pruned and unpruned differ
    assert fa["size_bytes"].tolist() == ex["size_bytes"].tolist()
    assert (ex["resident_bytes"] == ex["size_bytes"]).all()
    assert (fa["resident_bytes"] >= fa["size_bytes"]).all()
    assert len(set(df["config_hash"])) == len(df)
    again = sweep(mode_model(), MODE_GRID, **kw)
    assert again["cached"].all() and len(seen) == 4  # a repeated sweep is free, both modes


def tiny_eval_64(model: nn.Module) -> float:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(128, 64, generator=g)
    y = torch.randint(0, 10, (128,), generator=g)
    with torch.no_grad():
        return float((model(x).argmax(1) == y).double().mean())


def test_cached_rows_without_resident_bytes(engine, tmp_path):
    cache = tmp_path / "old.jsonl"
    kw = dict(example_input=tiny_input(), cache=cache, **FAST)
    df = sweep(tiny_model(), {"ras": "block"}, **kw)
    # rewrite the cache as a version without the resident_bytes column wrote it
    lines = [json.loads(line) for line in cache.read_text().splitlines()]
    for rec in lines:
        del rec["row"]["measured"]["resident_bytes"]
    cache.write_text("".join(json.dumps(rec, sort_keys=True) + "\n" for rec in lines))
    old = sweep(tiny_model(), {"ras": "block"}, **kw)
    assert old["cached"].all()
    assert old["resident_bytes"].tolist() == old["size_bytes"].tolist() == df["size_bytes"].tolist()


def test_grid_methods_match_transforms():
    from sckit.sweeps.grid import PRUNE_METHODS, QUANT_METHODS
    from sckit.transforms import PRUNE_METHODS as TP
    from sckit.transforms import QUANTIZE_METHODS as TQ

    assert PRUNE_METHODS == TP and QUANT_METHODS == TQ


def test_baseline_and_quantize_rows(engine):
    pytest.importorskip("zstandard")
    grid = {"ras": "block", "quantize": [("uniform", 4)], "baselines": ["zstd-3", "deep_compression"]}
    df = sweep(tiny_model(), grid, example_input=tiny_input(), evaluate=tiny_eval, **FAST)
    assert df["kind"].tolist() == ["dense", "succinct", "baseline", "baseline"]
    zstd_row, dc_row = df.iloc[2], df.iloc[3]
    assert zstd_row["roundtrip_ok"]  # a lossless coder gives the weights back
    assert zstd_row["weights_hash"] == df.iloc[0]["weights_hash"]
    assert zstd_row["accuracy"] == df.iloc[0]["accuracy"]
    assert not dc_row["roundtrip_ok"]  # Deep Compression quantizes: lossy by design
    assert df.iloc[1]["roundtrip_ok"]  # RAS of the quantized model is lossless
    with pytest.raises(ValueError, match="'dense'"):
        sweep(tiny_model(), {"baselines": ["dense"]}, example_input=tiny_input(), **FAST)


def test_sweep_feeds_pareto_and_plot(base_run):
    from sckit.sweeps.pareto import pareto_front, plot_pareto

    front = pareto_front(base_run, z="accuracy")
    assert len(front) >= 1 and set(front.index) <= set(base_run.index)
    fig = plot_pareto(base_run)
    assert [t.name for t in fig.data] == ["configurations", "Pareto front"]
    assert len(fig.data[0].x) == len(base_run)
    assert "label: prune=magnitude:0.5 ras=block" in fig.data[0].text[4]
    assert "weights_hash" not in fig.data[0].text[4]


def test_fork_pool_with_threads_rejected():
    # the hang itself is measured in ENVIRONMENT.md; here: refused before anything is submitted
    with ProcessPoolExecutor(2, mp_context=mp.get_context("fork")) as ex:
        with pytest.raises(ValueError, match="spawn"):
            sweep(tiny_model(), {}, example_input=tiny_input(), executor=ex, threads=2, progress=False)


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning")
def test_hash_and_size_of_int8_modules():
    from torch.ao.nn.quantized import Linear as QLinear

    from sckit.sweeps.worker import opaque_state_bytes, state_bytes, weights_hash

    g = torch.Generator().manual_seed(5)  # own generator: tiny_model() reseeds the global one
    q = QLinear(16, 4)  # weights packed: state_dict holds a tuple, no parameters
    w = torch.quantize_per_tensor(torch.randn(4, 16, generator=g), 0.1, 0, torch.qint8)
    q.set_weight_bias(w, torch.zeros(4))
    # int8 weight + fp32 bias + output scale (fp32) and zero point (int64), all outside
    # parameters/buffers
    assert opaque_state_bytes(q) == 4 * 16 + 4 * 4 + 4 + 8
    assert opaque_state_bytes(tiny_model()) == 0
    assert state_bytes(q) >= 4 * 16 + 4 * 4
    h = weights_hash(q)
    q.set_weight_bias(torch.quantize_per_tensor(torch.randn(4, 16, generator=g), 0.1, 0, torch.qint8), torch.zeros(4))
    assert weights_hash(q) != h
    q2 = QLinear(16, 4)
    q2.set_weight_bias(w, torch.zeros(4))
    q.set_weight_bias(w, torch.zeros(4))
    assert weights_hash(q) == weights_hash(q2)
    # same integers, other scale: a different model
    q2.set_weight_bias(torch.quantize_per_tensor(w.dequantize(), 0.2, 0, torch.qint8), torch.zeros(4))
    assert weights_hash(q) != weights_hash(q2)
