"""What-if sweeps and their Pareto fronts.

``sckit.sweep`` measures size, latency and accuracy over a grid of configurations;
``sckit.pareto_front`` keeps the non-dominated rows; ``sckit.plot_pareto`` draws them.

Modules: :mod:`~sckit.sweeps.grid` (the grid grammar and configuration keys),
:mod:`~sckit.sweeps.worker` (measuring one configuration, in-process or in a worker),
:mod:`~sckit.sweeps.cache` (the resumable JSON-lines cache), :mod:`~sckit.sweeps.api`
(``sweep`` itself) and :mod:`~sckit.sweeps.pareto` (fronts and plots). Latency is measured by
:func:`sckit.timing.time_forward`, the one timing function of sckit.
"""

from __future__ import annotations

from sckit.sweeps.api import MEASURE_COLUMNS, TIMING_COLUMNS, configured_model, sweep
from sckit.sweeps.cache import SweepCache
from sckit.sweeps.grid import CONFIG_COLUMNS, config_key, config_label, expand_grid
from sckit.sweeps.pareto import find_chromium, pareto_front, pareto_mask, plot_pareto, save_figure

__all__ = [
    "sweep",
    "configured_model",
    "MEASURE_COLUMNS",
    "TIMING_COLUMNS",
    "CONFIG_COLUMNS",
    "SweepCache",
    "config_key",
    "config_label",
    "expand_grid",
    "pareto_front",
    "pareto_mask",
    "plot_pareto",
    "save_figure",
    "find_chromium",
]
