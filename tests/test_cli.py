"""The console script: `sckit demo` and `sckit report` as a newcomer runs them."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from html.parser import HTMLParser

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


def test_help_is_plain_text_and_version_is_there():
    from sckit import __version__

    for args in ([], ["report"], ["demo"]):
        r = _run(*args, "--help")
        assert r.returncode == 0 and "usage: sckit" in r.stdout
        assert "``" not in r.stdout and ":func:" not in r.stdout  # no reST markup
    r = _run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"sckit {__version__}"


def external_references(html: str) -> list[tuple[str, str, str]]:
    """(tag, attribute, URL) of every attribute that makes a browser fetch from another host.

    Parsed as HTML, so URLs inside inline scripts (plotly.js mentions a few) are not counted:
    only what the page itself loads or links."""
    found: list[tuple[str, str, str]] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            for k, v in attrs:
                if k in ("src", "href", "data", "srcset", "poster", "action") and v and \
                        re.match(r"\s*(https?:)?//", v):
                    found.append((tag, k, v))

    Parser().feed(html)
    return found


def test_external_references_finds_what_a_browser_would_fetch():
    html = ('<script src="https://cdn.example/x.js"></script><link href="//cdn.example/y.css">'
            '<script>var a = \'<img src="https://not.a.request/">\';</script><img src="data:,">')
    assert external_references(html) == [("script", "src", "https://cdn.example/x.js"),
                                         ("link", "href", "//cdn.example/y.css")]


@pytest.mark.notebook
@pytest.mark.slow
def test_report_of_a_saved_compressed_model_is_self_contained(tmp_path):
    """The README's promise: any saved .sck works, and the page needs no network."""
    import sckit
    from sckit.nb import records

    model = sckit.zoo.create_model("lenet300_100", pretrained="digits").eval()
    sck = tmp_path / "mlp.sck"
    sckit.save(sckit.compress(model, sckit.zoo.default_input("lenet300_100")), sck)
    out = tmp_path / "report.html"
    r = _run("report", str(sck), "--out", str(out), "--keep-notebook",
             "-p", "prune_amounts=[0.8]", "-p", "repeats=1")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "without encryption" not in r.stderr  # the kernel talks over Unix sockets
    assert "KeyboardInterrupt" not in r.stderr and "ERROR" not in r.stderr  # the kernel's log stays quiet
    for stage in ("set-up", "The layer table", "The lossless ledger", "HTML export"):
        assert f"mlp.sck: {stage}" in r.stderr  # a progress bar per stage
    assert sorted(tmp_path.iterdir()) == sorted([sck, out, out.with_suffix(".ipynb")])  # as asked
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask  # as a plain open() would make it
    html = out.read_text()
    assert re.search(r"<title>mlp.sck: sckit report</title>", html)
    assert external_references(html) == []
    assert html.count("Plotly.newPlot") == 1 and "plotly.js v" in html  # embedded, drawn natively
    text = re.sub(r"<script.*?</script>|<style.*?</style>|<[^>]+>", " ", html, flags=re.S)
    assert "fc1" in text and "lossless" in text.lower()
    for raw in ("nan", "NaN", "None", "<NA>", "sckit_record"):
        assert not re.search(rf"\b{re.escape(raw)}\b", text), raw  # formatted, records hidden
    assert "MiB" in text or "KiB" in text
    rec = records(out.with_suffix(".ipynb"))
    assert rec["lossless"] is True and rec["n_configs"] == 17  # dense + 2 RAS x 2 prune x 2 quantize x 2 modes
    assert rec["accuracy_dense"] == rec["accuracy_succinct"] > 0.9


@pytest.mark.notebook
@pytest.mark.slow
def test_failed_report_names_the_section_and_leaves_nothing(tmp_path):
    bad = tmp_path / "bad.sck"
    bad.write_bytes(b"not an sckit file" * 10)
    r = _run("report", str(bad), "--out", str(tmp_path / "report.html"))
    assert r.returncode == 1
    assert "failed in section 'set-up'" in r.stderr and "FormatError" in r.stderr, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    assert sorted(tmp_path.iterdir()) == [bad]  # no HTML, no notebook
