"""sckit.nb: record values (in-process and in a real papermill run) and read them back."""

from __future__ import annotations

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from sckit import nb


@pytest.fixture(autouse=True)
def _clean():
    nb.clear()
    yield
    nb.clear()


def test_record_in_process_converts_numpy():
    nb.record("ratio", np.float32(2.5))
    nb.record("n", np.int64(7))
    nb.record("ok", np.bool_(True))
    nb.record("nested", {"a": [np.float64(1.5), 2, None, "x"], "b": np.array(3)})
    got = nb.recorded()
    assert got == {"ratio": 2.5, "n": 7, "ok": True, "nested": {"a": [1.5, 2, None, "x"], "b": 3}}
    assert type(got["ratio"]) is float and type(got["n"]) is int and type(got["ok"]) is bool
    nb.record("n", 8)  # last wins
    assert nb.recorded()["n"] == 8


@pytest.mark.parametrize(
    ("value", "kind", "match"),
    [
        (np.zeros(3), TypeError, "numpy.ndarray"),
        (object(), TypeError, "builtins.object"),
        ({1: 2}, TypeError, "keys must be str"),
        ({"a": [1, {1, 2}]}, TypeError, r"value\['a'\]\[1\] has type builtins.set"),
        (float("nan"), ValueError, "NaN"),
    ],
)
def test_record_rejects(value, kind, match):
    with pytest.raises(kind, match=match):
        nb.record("bad", value)
    assert "bad" not in nb.recorded()


def test_record_bad_name():
    with pytest.raises(TypeError, match="name must be str"):
        nb.record(3, 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        nb.record("", 1)


def _output(name, value):
    return new_output(
        "display_data",
        data={nb.MIME: {"name": name, "value": value}, "text/plain": repr(value)},
        metadata={nb.MARKER: name},
    )


def test_records_from_notebooks_executed_before_the_quiet_mimetype(tmp_path):
    old = new_output("display_data", data={"application/json": {"name": "a", "value": 1},
                                           "text/plain": "a = 1"}, metadata={nb.MARKER: "a"})
    assert nb.records(new_notebook(cells=[new_code_cell("x", outputs=[old])])) == {"a": 1}


def test_records_from_hand_built_notebook(tmp_path):
    book = new_notebook(
        cells=[
            new_markdown_cell("# t"),
            new_code_cell("x", outputs=[_output("a", 1), new_output("stream", text="hi\n")]),
            new_code_cell(
                "y",
                outputs=[
                    # an unmarked JSON output is not a record
                    new_output("display_data", data={nb.MIME: {"name": "z", "value": 0}}),
                    _output("b", {"k": [1, 2]}),
                    _output("a", 2),  # last wins
                ],
            ),
        ]
    )
    path = tmp_path / "hand.ipynb"
    nbformat.write(book, path)
    assert nb.records(path) == {"a": 2, "b": {"k": [1, 2]}}
    assert nb.records(book) == {"a": 2, "b": {"k": [1, 2]}}
    with pytest.raises(TypeError, match="notebook path"):
        nb.records(42)


@pytest.mark.notebook
@pytest.mark.slow
def test_records_after_papermill(tmp_path):
    papermill = pytest.importorskip("papermill")
    params = new_code_cell("n = 3")
    params.metadata["tags"] = ["parameters"]
    book = new_notebook(
        cells=[
            params,
            new_code_cell(
                "import numpy as np\nfrom sckit import nb\n"
                "nb.record('total', np.int64(n * 2))\nnb.record('meta', {'n': n, 'ok': True})\n"
                "nb.record('total', int(n * 10))\n"
            ),
        ]
    )
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    src, dst = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(book, src)
    papermill.execute_notebook(
        str(src), str(dst), parameters={"n": 4}, kernel_name="python3", progress_bar=False,
        cwd=str(tmp_path),
    )
    assert nb.records(dst) == {"total": 40, "meta": {"n": 4, "ok": True}}
    # invisible: the only mimetype is one no front end renders (JupyterLab draws nothing for an
    # output without a renderer; nbconvert writes an empty output)
    outs = [o for c in nbformat.read(dst, as_version=4).cells if c.cell_type == "code" for o in c.outputs]
    recs = [o for o in outs if nb.MARKER in o.get("metadata", {})]
    assert len(recs) == 3 and all(set(o.data) == {nb.MIME} for o in recs)
    assert nb.recorded() == {}  # the kernel's records did not leak into this process


def test_setup_makes_figures_native_and_offline():
    import re

    go = pytest.importorskip("plotly.graph_objects")
    pio = pytest.importorskip("plotly.io")
    old = pio.renderers.default
    try:
        assert nb.setup() == nb.RENDERER == pio.renderers.default
        fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
        first, second = fig._repr_mimebundle_(), fig._repr_mimebundle_()
        # JupyterLab draws the plotly mimetype with its own plotly.js; nbconvert uses the HTML
        assert set(first) == set(second) == {"application/vnd.plotly.v1+json", "text/html"}
        assert "plotly.js v" in first["text/html"] and len(first["text/html"]) > 1_000_000
        assert "plotly.js v" not in second["text/html"] and len(second["text/html"]) < 100_000
        assert "&& window.Plotly)" in second["text/html"]  # no script error without plotly.js
        for html in (first["text/html"], second["text/html"]):
            outside_scripts = re.sub(r"<script[^>]*>.*?</script>", "", html, flags=re.S)
            assert not re.search(r"(src|href)=[\"']?(https?:)?//", outside_scripts)
            assert "mathjax.js" not in html.lower()  # plotly's notebook renderer adds it from a CDN
            assert re.search(r"height:\s*\d{3}px", html)  # a fixed height, not 100% of nothing
        nb.setup()  # again: the next figure carries plotly.js again
        assert "plotly.js v" in fig._repr_mimebundle_()["text/html"]
        assert nb.setup("json") == "json" == pio.renderers.default
    finally:
        pio.renderers.default = old


def test_human_bytes_and_styled_tables():
    pd = pytest.importorskip("pandas")
    assert [nb.human_bytes(v) for v in (980, 1024, 1430800, 1023 * 1024, 5e9)] == [
        "980 B", "1 KiB", "1.36 MiB", "1023 KiB", "4.66 GiB"]
    df = pd.DataFrame({"n": [1, 2_000_000], "size_bytes": pd.array([1430800, None], "Int64"),
                       "accuracy": [0.96666, float("nan")], "ms": [1.23456789, None],
                       "label": ["a", None]})
    html = nb.styled(df).to_html()
    for shown in ("2,000,000", "1.36 MiB", "96.67%", "1.235", "\u2014"):
        assert shown in html, shown
    for raw in ("nan", "None", "&lt;NA&gt;", "0.96666", "1430800"):
        assert raw not in html, raw
    assert df.size_bytes.iloc[0] == 1430800  # the frame keeps its numbers
