"""Every notebook in notebooks/ runs under papermill with its defaults, and its recorded headline
results are what they should be. Executed copies go to notebooks/_executed/ (ignored)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest

from sckit.nb import records

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXECUTED = ROOT / "notebooks" / "_executed"


def _close(a: float, b: float, rel: float = 1e-9) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b))


# notebook stem -> assertions on its records
EXPECT: dict[str, Callable[[dict[str, Any]], None]] = {}


def expect(stem: str):
    def deco(fn):
        EXPECT[stem] = fn
        return fn

    return deco


@expect("00_quickstart")
def _(r):
    assert r["lossless"] is True
    assert r["ratio"] > 1.0 and r["compressed_bytes"] < r["dense_bytes"]
    assert r["accuracy_succinct"] == r["accuracy_dense"] >= 0.95
    assert r["n_configs"] >= 6 and 1 <= r["front_size"] <= r["n_configs"]
    assert r["roundtrip_ok"] is True


@expect("01_inspect")
def _(r):
    assert r["macs"] == r["flopcounter_macs"]  # ResNet-18 has no SDPA: the counts must agree
    assert r["n_params"] == r["n_params_torch"] == 11_689_512
    # paper 4.1 at batch 1: every conv block-wise, the fc (FPr 2) and the norms element-wise
    assert r["ras_by_type"]["Conv2d"] == ["block"] and r["ras_by_type"]["Linear"] == ["element"]
    assert r["ratio"] > 1.0


@expect("02_succinct_basics")
def _(r):
    assert r["bitvector_ok"] is True and r["wm_textbook_ok"] is True
    assert r["h0_bits"] <= r["hwm_bits"] <= 1.07 * (r["h0_bits"] + 1)
    assert r["hwm_bits"] < r["wm_bits"]


@expect("03_ras_formats")
def _(r):
    assert r["roundtrip_ok"] is True and r["sparse_roundtrip_ok"] is True
    assert r["access_ok"] is True and r["decode_rows_ok"] is True and r["access_many_ok"] is True
    assert r["sparse_bytes"] < r["dense_ras_bytes"]
    assert r["default_bytes"] <= r["sparse_bytes"]  # the default picks the smallest form


@expect("04_lossless_inference")
def _(r):
    assert r["lossless"] is True and r["load_lossless"] is True
    assert r["ratio"] > 1.0 and r["latency_succinct_ms"] > 0


@expect("05_whatif")
def _(r):
    assert r["accuracy_pq_succinct"] == r["accuracy_pq"]  # lossless w.r.t. the P+Q model
    assert r["accuracy_dense"] >= 0.95 and r["ratio_pq_succinct"] > 8
    assert r["panel_ok"] is True and r["n_configs"] == 7
    assert r["panel_mode"] == "fast"  # the panel's mode control reached sckit.compress


@expect("06_gpu_kernels")
def _(r):
    import shutil

    assert set(r["kernel_sources"]) >= {"wm_decode", "wm_query"}
    if shutil.which("nvcc"):
        assert r["kernels_compiled"] == 2 * len(r["kernel_sources"])
    assert r["engine_bit_exact"] is True
    assert r["engine_backend"] == ("cuda" if r["gpu_usable"] else "cpu")
    if r["gpu_usable"]:
        assert r["gpu_decode_bit_exact"] is True


@expect("07_pareto")
def _(r):
    # 1 dense + 3 pruning levels x 2 quantizations x 1 RAS policy x 2 modes; the notebook's text
    # gives no number, its first cell prints the count computed from the grid
    assert r["n_configs"] == r["n_configs_expected"] == 13 and r["roundtrip_ok"] is True
    assert r["modes_same_weights"] is True  # fast mode computes differently, stores the same
    assert r["fast_speedup_most_pruned"] > 0  # a timing: printed, not asserted (shared CPUs)
    assert 1 <= r["front_size"] <= r["n_configs"] and r["best_ratio_on_front"] > 1
    # the plotted (size, latency) front is part of the 3-objective front the table shows
    assert 1 <= r["front_2d_size"] <= r["front_size"] and r["front_2d_within_3d"] is True


@expect("08_paper_tables")
def _(r):
    assert r["resnet50_params"] == 25_557_032
    assert r["resnet50_macs"] != r["resnet50_paper_macs"]  # the paper's total is not reproducible
    assert abs(r["resnet50_macs"] / r["resnet50_paper_macs"] - 1) < 0.01  # ...but close
    assert r["succinct_on_dc_same_predictions"] is True
    assert r["succinct_on_dc_bytes"] <= 1.05 * r["dc_bytes"]  # within 5% of Deep Compression's P+Q+H
    assert r["deepsz_ratio"] > 1 and r["dc_ratio"] > 1
    # the Speedup columns: every configuration measured, weights bit-exact in fast mode
    assert r["speed_configs"] == ["magnitude 95%", "filter_l1 50%", "4-bit"]
    assert r["speed_weights_exact"] is True
    assert all(v > 0 for v in r["speed_improved"])  # a timing: printed, not asserted


def test_every_notebook_has_expectations():
    assert {p.stem for p in NOTEBOOKS} == set(EXPECT)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_clean(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown", "open with the question the notebook answers"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    for c in nb.cells:
        if c.cell_type == "code":
            assert not c.outputs and c.execution_count is None, "commit notebooks without outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_figures_are_native_and_papers_cited_by_name(path):
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    comments = re.findall(r"#.*", code)  # identifiers (a function's name) are not citations
    text = "\n".join([c.source for c in nb.cells if c.cell_type == "markdown"] + comments)
    # a figure wrapped in HTML renders 7 px tall in JupyterLab: show the figure itself
    assert ".to_html(" not in code and "display(HTML(" not in code
    if re.search(r"\bpx\.|plot_pareto|go\.Figure", code):
        assert "sckit.nb" in code, "import sckit.nb: it sets the offline plotly renderer"
    assert not re.search(r"\bseed\s*0\d\d|\bissue\s*#?\d", text, re.I), "cite papers by name"
    first = nb.cells[0].source
    assert "?" in first, "open with the question the notebook answers"
    assert re.search(r"\b\d+\s*(s|seconds|minutes?)\b", first), "say how long it runs"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path):
    import papermill

    EXECUTED.mkdir(exist_ok=True)
    out = EXECUTED / path.name
    papermill.execute_notebook(str(path), str(out), cwd=str(tmp_path), progress_bar=False,
                               kernel_name="python3", execution_timeout=600)
    EXPECT[path.stem](records(out))
