"""``sckit report``: execute the quickstart notebook headlessly and write a self-contained HTML.

The notebook is the report's single source: what a user sees in JupyterLab is what the HTML
shows (layer table, lossless ledger, Pareto plot), with the code cells hidden. The page loads
nothing from the network: plotly.js is embedded once (``sckit.nb``), and nbconvert's require.js,
MathJax and mermaid ``<script src>`` tags are left out of the template. The executed notebook
lives in a temporary folder that is removed, on success and on failure, unless
``keep_notebook`` asks for it beside the HTML.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["QUICKSTART", "ReportError", "build_report", "notebook_path"]

QUICKSTART = "00_quickstart.ipynb"

# the lab template without the <script src> tags that reach for a CDN (the notebook's outputs
# carry plotly.js themselves and use no LaTeX, require.js or mermaid)
_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
"""


class ReportError(RuntimeError):
    """The report notebook failed; the message names the section and the error."""


def notebook_path(name: str) -> Path:
    """Path of a notebook shipped in ``sckit.notebooks`` (works for wheel and editable installs)."""
    p = resources.files("sckit.notebooks") / name
    if not p.is_file():
        raise ValueError(f"no notebook {name!r} in sckit.notebooks")
    return Path(str(p))


def _coerce(value: Any) -> Any:
    """CLI parameters arrive as strings: read JSON literals (numbers, true/false, lists)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def _check_model(model: str) -> str:
    if model.endswith(".sck"):
        if not Path(model).is_file():
            raise ValueError(f"no such file: {model}")
        return str(Path(model).resolve())
    from sckit.zoo import list_models

    names = list_models()
    if model not in names:
        raise ValueError(f"unknown model {model!r}: give a .sck file or one of {', '.join(names)}")
    return model


def _kernel_manager(folder: str) -> Any:
    """A kernel manager whose kernel talks over Unix sockets in ``folder`` where the OS has them
    (over TCP ipykernel warns that the local traffic is unencrypted, which reads like an alarm in
    a one-shot command's output)."""
    from jupyter_client.manager import AsyncKernelManager

    class ReportKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            if os.name != "nt":
                kwargs.setdefault("transport", "ipc")
                kwargs.setdefault("ip", os.path.join(folder, "kernel"))
            super().__init__(**kwargs)

    return ReportKernelManager


def _heading(cell: Any) -> str | None:
    """The first Markdown heading of a cell, without the #s."""
    if cell.cell_type != "markdown":
        return None
    m = re.search(r"^#+\s*(.+?)\s*$", cell.source, re.M)
    return m.group(1) if m else None


def _stages(nb: Any) -> dict[int, tuple[str, int]]:
    """Code cell index -> (its section's heading, code cells in that section)."""
    sections: list[tuple[str, list[int]]] = [("set-up", [])]
    for i, cell in enumerate(nb.cells):
        head = _heading(cell) if i else None  # the opening heading is the page's title
        if head is not None:
            sections.append((head, []))
        elif cell.cell_type == "code" and cell.source.strip():
            sections[-1][1].append(i)
    return {i: (name, len(idx)) for name, idx in sections for i in idx}


def _retitle(nb: Any, label: str) -> None:
    """The page title and opening heading name the model, not the notebook."""
    nb.metadata["title"] = f"{label}: sckit report"
    first = nb.cells[0]
    if first.cell_type == "markdown":
        body = first.source.split("\n", 1)[1] if "\n" in first.source else ""
        # the notebook's own opening speaks to a notebook user (run time, defaults); the report
        # keeps only the question it answers
        question = next((ln for ln in body.splitlines() if ln.startswith("*")), "")
        first.source = f"# {label}: sckit report\n\n{question}".rstrip()


def _strip_records(nb: Any) -> None:
    """Drop ``sckit.nb.record`` outputs: they carry data for :func:`sckit.nb.records`, not the page."""
    from sckit.nb import MARKER

    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", [])
                            if MARKER not in (o.get("metadata") or {})]


def _export_html(nb: Any) -> str:
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(extra_loaders=[DictLoader({"sckit_report.html.j2": _TEMPLATE})],
                            template_file="sckit_report.html.j2", exclude_input=True,
                            exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nb)
    return str(body)


def _failure(exc: BaseException, stage: str, log: Path) -> ReportError:
    """A short message: the section, the exception's last lines, the kernel's log tail if it died."""
    text = str(exc).strip()
    lines = [ln for ln in re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines() if ln.strip()]
    tail = "\n".join(lines[-6:])
    msg = f"the report notebook failed in section {stage!r}:\n{tail}"
    if "DeadKernelError" in type(exc).__name__ and log.is_file():
        msg += "\nkernel log:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-10:])
    return ReportError(msg)


def build_report(model: str, *, out: str | os.PathLike[str] = "report.html",
                 parameters: dict[str, Any] | None = None, timeout_s: int = 1200,
                 keep_notebook: bool = False, progress: bool = True) -> Path:
    """Run the quickstart notebook for ``model`` (zoo name or ``.sck`` file) and write HTML.

    ``parameters`` override the notebook's ``parameters`` cell. ``progress`` shows one console
    bar per section of the notebook, then one for the export. The executed notebook is removed
    unless ``keep_notebook`` (then it is written to ``<out>.ipynb``, on failure as well, so its
    recorded results can be read back with :func:`sckit.nb.records`). The HTML is written
    atomically: a failed run leaves no partial page.

    Raises:
        ValueError: unknown model or missing file.
        ReportError: a cell of the notebook raised (the message names the section).
    """
    import nbformat
    from nbclient import NotebookClient
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook
    from tqdm.auto import tqdm

    from sckit.atomic import atomic_open

    params = {"model_name": _check_model(model)}
    params.update({k: _coerce(v) for k, v in (parameters or {}).items()})
    label = Path(model).name if model.endswith(".sck") else model
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    nb = load_notebook_node(str(notebook_path(QUICKSTART)))
    nb = parameterize_notebook(nb, params, kernel_name="python3", language="python")
    _retitle(nb, label)
    stages = _stages(nb)
    state: dict[str, Any] = {"bar": None, "stage": "set-up"}

    def start(cell: Any, cell_index: int) -> None:
        if cell_index not in stages:
            return
        name, n = stages[cell_index]
        if name != state["stage"] or state["bar"] is None:
            if state["bar"] is not None:
                state["bar"].close()
            state["stage"] = name
            state["bar"] = tqdm(total=n, desc=f"{label}: {name}", unit="cell", disable=not progress,
                                bar_format="{desc:<48.48} {bar:20} {n}/{total} cells [{elapsed}]")

    def done(cell: Any, cell_index: int, execute_reply: Any) -> None:
        bar = state["bar"]
        if bar is not None and cell_index in stages:
            bar.update(1)
            if bar.n >= bar.total:  # the stage's time stops at its last cell, not at the next
                bar.close()

    with tempfile.TemporaryDirectory(prefix="sckit-report-") as tmp:
        log = Path(tmp) / "kernel.log"
        client = NotebookClient(nb, timeout=timeout_s, kernel_name="python3",
                                resources={"metadata": {"path": tmp}},
                                kernel_manager_class=_kernel_manager(tmp),
                                on_cell_start=start, on_cell_executed=done)
        try:
            # the kernel's own log (ipykernel reports the interrupt that jupyter_client sends
            # before every shutdown as an ERROR) goes to a file, read back only if it died
            with open(log, "w") as kernel_log:
                client.execute(stdout=kernel_log, stderr=kernel_log)
        except Exception as exc:
            raise _failure(exc, state["stage"], log) from exc
        finally:
            if state["bar"] is not None:
                state["bar"].close()
            if keep_notebook:
                nbformat.write(nb, out.with_suffix(".ipynb"))
    with tqdm(total=1, desc=f"{label}: HTML export", unit="page", disable=not progress,
              bar_format="{desc:<48.48} {bar:20} {n}/{total} page [{elapsed}]") as bar:
        _strip_records(nb)
        body = _export_html(nb)
        with atomic_open(out, "w", encoding="utf-8") as fh:
            fh.write(body)
        bar.update(1)
    return out
