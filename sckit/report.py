"""``sckit report``: execute the quickstart notebook headlessly and write a self-contained HTML.

The notebook is the report's single source: what a user sees in JupyterLab is what the HTML
shows (layer table, lossless ledger, Pareto plot), with the code cells hidden.
"""

from __future__ import annotations

import json
import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["QUICKSTART", "build_report", "notebook_path"]

QUICKSTART = "00_quickstart.ipynb"


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


def _kernel_transport(folder: str) -> dict[str, Any]:
    """Talk to the report's kernel over Unix sockets in ``folder`` where the OS has them: over
    TCP, ipykernel warns that the (local) traffic is unencrypted, which reads like an alarm in the
    output of a one-shot command."""
    if os.name == "nt":
        return {}
    from jupyter_client.manager import AsyncKernelManager

    class UnixSocketKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            kwargs.setdefault("transport", "ipc")
            kwargs.setdefault("ip", os.path.join(folder, "kernel"))
            super().__init__(**kwargs)

    return {"kernel_manager_class": UnixSocketKernelManager}


def build_report(model: str, *, out: str | os.PathLike[str] = "report.html",
                 parameters: dict[str, Any] | None = None, timeout_s: int = 1200) -> Path:
    """Run the quickstart notebook for ``model`` (zoo name or ``.sck`` file) and write HTML.

    ``parameters`` override the notebook's ``parameters`` cell. The executed notebook is kept
    next to the HTML (``<out>.ipynb``) so its recorded results can be read back with
    :func:`sckit.nb.records`. The HTML is written atomically.
    """
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    from sckit.atomic import atomic_open

    params = {"model_name": _check_model(model)}
    params.update({k: _coerce(v) for k, v in (parameters or {}).items()})
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    executed = out.with_suffix(".ipynb")
    with tempfile.TemporaryDirectory(prefix="sckit-report-") as tmp:
        papermill.execute_notebook(str(notebook_path(QUICKSTART)), str(executed),
                                   parameters=params, progress_bar=False, cwd=tmp,
                                   execution_timeout=timeout_s, **_kernel_transport(tmp))
    nb = nbformat.read(executed, as_version=4)
    body, _ = HTMLExporter(exclude_input=True, exclude_input_prompt=True,
                           exclude_output_prompt=True).from_notebook_node(nb)
    with atomic_open(out, "w", encoding="utf-8") as fh:
        fh.write(body)
    return out
