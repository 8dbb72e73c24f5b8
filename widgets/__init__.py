"""ipywidgets dashboards for sckit (imported as ``sckit.widgets``).

This folder sits at the top of the repository (design card) and ships inside the installed
package as ``sckit.widgets``. The library never imports it; it imports only sckit's public API,
ipywidgets and plotly.
"""

from __future__ import annotations

__all__: list[str] = []
