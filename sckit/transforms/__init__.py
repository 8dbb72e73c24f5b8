"""Model transforms: pruning, quantization and distillation. Each returns a new model.

The input model is never modified (transforms work on a ``copy.deepcopy``). The result carries
``_sckit_transforms``: a list of plain dicts, one per transform applied so far, for the encoder
and the reports (:func:`history` reads it).
"""

from __future__ import annotations

from sckit.transforms._common import history, prunable_layers
from sckit.transforms.distill import distill, small_student
from sckit.transforms.pruning import (
    PRUNE_METHODS,
    layer_sparsity,
    prune,
    recalibrate_batchnorm,
    sparsity,
)
from sckit.transforms.quantization import (
    QUANTIZE_METHODS,
    kmeans_1d,
    kmeans_quantize,
    quantize,
    uniform_quantize,
)
from sckit.transforms.weight_sharing import fine_tune_centroids, shared_weight_model

__all__ = [
    "PRUNE_METHODS",
    "QUANTIZE_METHODS",
    "distill",
    "fine_tune_centroids",
    "history",
    "kmeans_1d",
    "kmeans_quantize",
    "layer_sparsity",
    "prunable_layers",
    "prune",
    "quantize",
    "recalibrate_batchnorm",
    "shared_weight_model",
    "small_student",
    "sparsity",
    "uniform_quantize",
]
