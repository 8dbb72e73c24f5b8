"""The console script: `sckit demo` and `sckit report` as a newcomer runs them."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from sckit.cli import main


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sckit.cli", *args], capture_output=True, text=True)


def test_demo_prints_sizes_and_timings(capsys):
    assert main(["demo", "--n", "200000"]) == 0
    out = capsys.readouterr().out
    assert "H0 =" in out and "WaveletMatrix" in out and "HuffmanWaveletMatrix" in out
    rows = {ln.split()[0]: ln.split() for ln in out.splitlines() if ln.startswith(("Wavelet", "Huffman"))}
    plain, huff = float(rows["WaveletMatrix"][1]), float(rows["HuffmanWaveletMatrix"][1])
    assert huff < plain  # the Huffman shape pays on exponent symbols


def test_inspect_a_decoded_compressed_model():
    """``sckit report x.sck`` inspects ``load(x).to_dense()``: hooks must register on that copy
    (to_dense once left torch's hook dicts as plain dicts, which torch cannot weak-reference)."""
    import sckit

    model = sckit.zoo.create_model("lenet300_100", seed=0).eval()
    x = sckit.zoo.default_input("lenet300_100")
    dense = sckit.compress(model, x).to_dense()
    table = sckit.inspect(dense, x, encode=False)
    assert int(table.n_params.sum()) == sum(p.numel() for p in model.parameters())
    dense.register_forward_hook(lambda *a: None).remove()


def test_bad_arguments_are_messages_not_tracebacks():
    r = _run("demo", "--n", "0")
    assert r.returncode == 2 and "--n must be positive" in r.stderr
    r = _run("report", "no_such_model")
    assert r.returncode == 2 and "unknown model 'no_such_model'" in r.stderr
    assert "Traceback" not in r.stderr
    r = _run("report", "missing.sck")
    assert r.returncode == 2 and "no such file" in r.stderr


@pytest.mark.notebook
@pytest.mark.slow
def test_report_writes_self_contained_html(tmp_path):
    from sckit.nb import records

    out = tmp_path / "report.html"
    r = _run("report", "lenet300_100", "--out", str(out), "-p", "prune_amounts=[0.8]", "-p", "repeats=1")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "without encryption" not in r.stderr  # the kernel talks over Unix sockets
    assert sorted(tmp_path.iterdir()) == sorted([out, out.with_suffix(".ipynb")])  # no leftovers
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask  # as a plain open() would make it
    html = out.read_text()
    assert "fc1" in html and "lossless" in html.lower()
    assert "Plotly.newPlot" in html and 'src="https://cdn.plot.ly' not in html  # plotly.js embedded
    rec = records(out.with_suffix(".ipynb"))
    assert rec["lossless"] is True and rec["n_configs"] == 17  # dense + 2 RAS x 2 prune x 2 quantize x 2 modes
