"""sckit: Succinct Compression of PyTorch models.

``import sckit`` is cheap: it imports neither torch, numba, pycuda nor ipywidgets. Every public
name below is resolved on first use (PEP 562 ``__getattr__``), so a user who only wants the
succinct structures never pays for torch, and a machine without a GPU or a display imports fine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sckit.errors import FormatError

__version__ = "0.1.0"

# public name -> "module:attribute" (attribute None means the module itself)
_LAZY: dict[str, str] = {
    "succinct": "sckit.succinct",
    "ras": "sckit.ras",
    "zoo": "sckit.zoo",
    "data": "sckit.data",
    "nb": "sckit.nb",
    "gpu": "sckit.gpu",
    "baselines": "sckit.baselines",
    "inspect": "sckit.inspection:inspect",
    "compress": "sckit.engine:compress",
    "SuccinctModel": "sckit.engine:SuccinctModel",
    "save": "sckit.container:save",
    "load": "sckit.container:load",
    "pack": "sckit.checkpoint:pack",
    "unpack": "sckit.checkpoint:unpack",
    "open": "sckit.open_file:open",
    "prune": "sckit.transforms:prune",
    "quantize": "sckit.transforms:quantize",
    "distill": "sckit.transforms:distill",
    "compare": "sckit.baselines:compare",
    "sweep": "sckit.sweeps:sweep",
    "pareto_front": "sckit.sweeps:pareto_front",
    "plot_pareto": "sckit.sweeps:plot_pareto",
}

__all__ = ["FormatError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'sckit' has no attribute {name!r}")
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    value = getattr(module, attr) if attr else module
    globals()[name] = value  # cache: later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - names for type checkers and IDEs
    from sckit import baselines, data, gpu, nb, ras, succinct, zoo  # noqa: F401
