"""The engine: compressed models that run (``sckit.compress``, ``SuccinctModel``).

One module per concern: ``trace`` (which module uses which parameter), ``schedule`` (decode just
in time, decode-ahead, the decoded-weight cache), ``decode`` (CPU or CUDA decode routes),
``kernels`` (fast-mode compute layouts: shrunk, sparse), ``plan`` (per-layer kernel choice by
measured cost) and ``core`` (``compress`` and ``SuccinctModel`` themselves).
"""

from sckit.engine.core import MODES, SuccinctModel, bit_equal, compress

__all__ = ["MODES", "SuccinctModel", "bit_equal", "compress"]
