"""Baselines to compare Succinct Compression with: Deep Compression, DeepSZ, general coders.

Every baseline takes a ``torch.nn.Module`` and returns a :class:`BaselineResult` (exact size in
bytes, encode and decode seconds, a per-layer table, and a decoded model to evaluate); the input
model is never modified. :func:`compare` puts them and Succinct Compression side by side.

- :func:`deep_compression` - prune + k-means (linear init) + Huffman (Han et al., Deep Compression)
- :func:`deepsz` - pruning + SZ-style error-bounded coding of FC layers (Jin et al., DeepSZ)
- :func:`zstd`, :func:`lzma_coder`, :func:`zipnn` (all four: :func:`general_coders`) - lossless
  coders on the raw weight bytes
"""

from __future__ import annotations

from sckit.baselines.coders import general_coders, lzma_coder, zipnn, zstd
from sckit.baselines.compare import DEFAULT_METHODS, METHODS, compare, run_method, succinct
from sckit.baselines.deep_compression import deep_compression, deep_compression_table, seed002_table
from sckit.baselines.deepsz import DEFAULT_ERROR_BOUNDS, deepsz, optimize_error_bounds
from sckit.baselines.result import BaselineResult

__all__ = [
    "BaselineResult",
    "DEFAULT_ERROR_BOUNDS",
    "DEFAULT_METHODS",
    "METHODS",
    "compare",
    "deep_compression",
    "deep_compression_table",
    "deepsz",
    "general_coders",
    "lzma_coder",
    "optimize_error_bounds",
    "run_method",
    "seed002_table",
    "succinct",
    "zipnn",
    "zstd",
]
