"""ipywidgets dashboards for sckit (imported as ``sckit.widgets``).

This folder sits at the top of the repository (design card) and ships inside the installed
package as ``sckit.widgets``. The library never imports it; it imports only sckit's public API,
ipywidgets and plotly. Each dashboard is a small class whose handlers are plain methods, so its
logic is tested without a browser (tests/widgets/).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["KernelPanel", "LayerInspector", "ParetoExplorer", "WaveletMatrixViewer", "WhatIfPanel"]

_WHERE = {
    "KernelPanel": "kernel_panel",
    "LayerInspector": "layer_inspector",
    "ParetoExplorer": "pareto_explorer",
    "WaveletMatrixViewer": "wavelet_viewer",
    "WhatIfPanel": "whatif",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'sckit.widgets' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value
