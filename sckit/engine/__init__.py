"""The engine: compressed models that run (``sckit.compress``, ``SuccinctModel``).

One module per concern: ``trace`` (which module uses which parameter), ``ras_choice`` (which RAS
kind each parameter gets), ``schedule`` (decode just in time, decode-ahead, the decoded-weight
cache), ``decode`` (CPU or CUDA decode routes), ``kernels`` (fast-mode compute layouts: shrunk,
sparse), ``plan`` (per-layer kernel choice by measured cost), ``chains`` (filter pruning kept
shrunk across layers), ``fast`` (installing and checking fast-mode kernels), ``outputs``
(comparing outputs: bit for bit, or within the reassociation bound), ``report`` (the per-layer
table), ``speed`` (the paper's Speedup columns) and ``core`` (``compress`` and
``SuccinctModel``).
"""

from sckit.engine.core import MODES, SuccinctModel, bit_equal, compress

__all__ = ["MODES", "SuccinctModel", "bit_equal", "compress"]
