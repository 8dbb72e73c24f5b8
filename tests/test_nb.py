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
    assert nb.recorded() == {}  # the kernel's records did not leak into this process
