"""Deep Compression (Han, Mao & Dally, ICLR 2016): prune, retrain, share weights, Huffman-code.

The pipeline as the paper ran it, per Conv/Linear weight matrix:

1. **Prune** the smallest-magnitude weights (``prune_amount`` per layer) and **retrain** with the
   mask fixed (sec. 2; "Learning both Weights and Connections"): on by default wherever the
   training set is known (zoo models with ``pretrained="digits"`` or ``"mnist"``), ``epochs`` of
   :func:`sckit.training.train`; a ``fine_tune`` callable replaces the built-in retraining (the
   mask is re-applied to its output).
2. **Quantize** the surviving weights by 1-D k-means with *linear* centroid initialisation
   (evenly spaced over [min, max], the initialisation the paper found best, sec. 3.2;
   :func:`sckit.transforms.quantization.kmeans_1d`), ``2**bits`` codes per layer: code 0 is the
   shared zero used by pruned and filler entries, codes 1.. are the ``2**bits - 1`` centroids;
   then **fine-tune the centroids** (sec. 3.3: each shared weight's gradient is the sum of its
   members' gradients; :func:`sckit.transforms.fine_tune_centroids`) for ``centroid_epochs``
   when retraining.
3. Store the sparse layer in **relative-index** form: for every stored entry a ``bits``-bit
   weight code and an ``index_bits``-bit gap to the previous entry; a gap wider than
   ``2**index_bits`` gets **filler zeros** (Deep Compression, Fig. 2).
4. **Huffman-code** the weight codes and the gaps, each with its own canonical code per layer.

Per-layer accounting (Deep Compression, Tables 2-5, and its formula ``r = nb / (n log2 k + kb)``)::

    compress_rate_pq  = (n_entries * (bits + index_bits) + 32 * 2**bits) / (32 * n_weights)
    compress_rate_pqh = (huffman weight bits + huffman index bits + 32 * 2**bits) / (32 * n_weights)

where ``n_entries`` = kept weights + filler entries and the codebook costs 32 bits per code.
``size_bytes`` additionally counts the Huffman code tables and the plain fp32 biases and other
state, i.e. every byte the decoder reads.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from sckit.baselines.huffman_coding import HuffmanStream, huffman_decode, huffman_encode
from sckit.baselines.result import (
    BaselineResult,
    check_model,
    dense_bytes,
    magnitude_prune,
    n_elements,
    per_layer_amount,
    positions_from_gaps,
    raw_state_bytes,
    rebuild_model,
    relative_indices,
    state_from_raw,
    state_tensors,
    weight_layers,
)
from sckit.baselines.retrain import check_training_args, retrain_pruned, training_set

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from torch import nn

__all__ = ["deep_compression", "deep_compression_table", "seed002_table"]

_LEN = struct.Struct("<I")


def _quantize_layer(w: np.ndarray, keep: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(``2**bits - 1`` float32 centroids, int64 codes of ``w``'s shape: 0 where pruned).

    The transforms helper's 1-D k-means with linear init (Deep Compression's best, sec. 3.2).
    """
    from sckit.transforms.quantization import kmeans_1d

    flat = w.reshape(-1).astype(np.float32)
    keep_flat = keep.reshape(-1)
    centroids, kept_codes = kmeans_1d(flat[keep_flat], (1 << bits) - 1, init="linear")
    codes = np.zeros(flat.size, dtype=np.int64)
    codes[keep_flat] = kept_codes + 1
    return centroids.astype(np.float32), codes.reshape(w.shape)


def _encode_layer(
    codes_dense: np.ndarray, keep: np.ndarray, centroids: np.ndarray, bits: int, index_bits: int
) -> tuple[bytes, dict[str, Any]]:
    keep_flat = keep.reshape(-1)
    k = 1 << bits
    gaps, positions = relative_indices(keep_flat, index_bits)
    codebook = np.zeros(k, dtype=np.float32)
    codebook[1 : 1 + centroids.size] = centroids
    codes = codes_dense.reshape(-1)[positions]  # fillers sit on pruned entries: code 0 == 0.0
    w_stream = huffman_encode(codes, alphabet_size=k)
    i_stream = huffman_encode(gaps, alphabet_size=1 << index_bits)
    wb, ib = w_stream.to_bytes(), i_stream.to_bytes()
    blob = b"".join((_LEN.pack(len(wb)), wb, _LEN.pack(len(ib)), ib, codebook.tobytes()))
    n = keep_flat.size
    n_entries = int(positions.size)
    n_kept = int(keep_flat.sum())
    codebook_bits = 32 * k
    pq_bits = n_entries * (bits + index_bits) + codebook_bits
    pqh_bits = w_stream.payload_bits + i_stream.payload_bits + codebook_bits
    row = {
        "n_weights": n,
        "weights_pct": 100.0 * n_kept / n if n else 0.0,
        "weight_bits_pq": float(bits),
        "weight_bits_pqh": w_stream.payload_bits / n_entries if n_entries else 0.0,
        "index_bits_pq": float(index_bits),
        "index_bits_pqh": i_stream.payload_bits / n_entries if n_entries else 0.0,
        "compress_rate_pq": 100.0 * pq_bits / (32 * n) if n else 0.0,
        "compress_rate_pqh": 100.0 * pqh_bits / (32 * n) if n else 0.0,
        "n_nonzero": n_kept,
        "n_filler": n_entries - n_kept,
        "n_entries": n_entries,
        "weight_payload_bits": w_stream.payload_bits,
        "index_payload_bits": i_stream.payload_bits,
        "codebook_bits": codebook_bits,
        "size_bytes": len(blob),
    }
    return blob, row


def _decode_layer(blob: bytes, n: int) -> np.ndarray:
    pos = 0
    (lw,) = _LEN.unpack_from(blob, pos)
    w_stream = HuffmanStream.from_bytes(blob[pos + 4 : pos + 4 + lw])
    pos += 4 + lw
    (li,) = _LEN.unpack_from(blob, pos)
    i_stream = HuffmanStream.from_bytes(blob[pos + 4 : pos + 4 + li])
    pos += 4 + li
    codebook = np.frombuffer(blob[pos:], dtype=np.float32)
    codes = huffman_decode(w_stream)
    positions = positions_from_gaps(huffman_decode(i_stream))
    out = np.zeros(n, dtype=np.float32)
    out[positions] = codebook[codes]
    return out


def _total_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = sum(r["n_weights"] for r in rows)
    e = sum(r["n_entries"] for r in rows)
    kept = sum(r["n_nonzero"] for r in rows)
    pq = sum(
        r["n_entries"] * (r["weight_bits_pq"] + r["index_bits_pq"]) + r["codebook_bits"]
        for r in rows
    )
    wpay = sum(r["weight_payload_bits"] for r in rows)
    ipay = sum(r["index_payload_bits"] for r in rows)
    cb = sum(r["codebook_bits"] for r in rows)
    return {
        "layer": "Total",
        "kind": "",
        "n_weights": n,
        "weights_pct": 100.0 * kept / n if n else 0.0,
        "weight_bits_pq": sum(r["n_entries"] * r["weight_bits_pq"] for r in rows) / e if e else 0.0,
        "weight_bits_pqh": wpay / e if e else 0.0,
        "index_bits_pq": sum(r["n_entries"] * r["index_bits_pq"] for r in rows) / e if e else 0.0,
        "index_bits_pqh": ipay / e if e else 0.0,
        "compress_rate_pq": 100.0 * pq / (32 * n) if n else 0.0,
        "compress_rate_pqh": 100.0 * (wpay + ipay + cb) / (32 * n) if n else 0.0,
        "n_nonzero": kept,
        "n_filler": e - kept,
        "n_entries": e,
        "weight_payload_bits": wpay,
        "index_payload_bits": ipay,
        "codebook_bits": cb,
        "size_bytes": sum(r["size_bytes"] for r in rows),
    }


def _check_bits(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 1 <= value <= 16:
        raise ValueError(f"{name} must be an integer in 1..16, got {value!r}")
    return int(value)


def deep_compression(
    model: nn.Module,
    *,
    prune_amount: float | Mapping[str, float] = 0.9,
    bits_conv: int = 8,
    bits_fc: int = 5,
    index_bits_conv: int = 8,
    index_bits_fc: int = 5,
    fine_tune: Callable[[nn.Module], nn.Module] | None = None,
    retrain: bool | None = None,
    epochs: int = 10,
    centroid_epochs: int = 4,
    lr: float = 1e-3,
    centroid_lr: float = 1e-3,
    dataset: str | None = None,
    size: int | None = None,
    progress: bool = True,
) -> BaselineResult:
    """Deep Compression of ``model``'s Conv/Linear weights: prune, retrain, k-means, fine-tune
    the centroids, Huffman.

    ``prune_amount``: fraction of each layer's weights removed (a float, or a mapping from
    layer name to fraction; unnamed layers are not pruned). ``bits_*``: weight-code bits (the
    paper: 8 for conv, 5 for fc); ``index_bits_*``: relative-index bits (the paper's LeNet
    tables use 5, AlexNet 4).

    Retraining (the paper's pipeline): ``retrain=None`` retrains wherever the training set is
    known: ``dataset`` (``"digits"``/``"mnist"``), else the one a zoo model was trained on
    (``create_model(..., pretrained=...)``); ``retrain=False`` skips it (prune + quantize only),
    ``retrain=True`` without a known data set is an error. Retraining runs ``epochs`` of masked
    training at ``lr`` after pruning, then ``centroid_epochs`` of centroid fine-tuning at
    ``centroid_lr`` after k-means, on images of side ``size`` (default: the zoo recipe's, 28),
    with a tqdm bar when ``progress``. ``fine_tune(model) -> model``, if given, replaces the
    masked retraining (the mask is re-applied to its output). Training time is reported in
    ``params`` (``fine_tune_s``, ``centroid_s``), not in ``encode_s``; with a known data set
    ``params["accuracy"]`` holds the test accuracy after each stage.

    Returns a lossy :class:`BaselineResult`; ``to_frame()`` has the paper's table columns
    (``n_weights, weights_pct, weight_bits_pq, weight_bits_pqh, index_bits_pq, index_bits_pqh,
    compress_rate_pq, compress_rate_pqh`` in percent) per layer and a ``Total`` row;
    :func:`deep_compression_table` formats it with the paper's headings. The decoded model holds exactly
    the pruned + quantized (+ fine-tuned) weights.
    """
    import torch

    check_model(model)
    retrain, ds, side = training_set(model, retrain, dataset, size)
    check_training_args(
        epochs=epochs, centroid_epochs=centroid_epochs, lr=lr, centroid_lr=centroid_lr
    )
    bits = {"conv": _check_bits("bits_conv", bits_conv), "fc": _check_bits("bits_fc", bits_fc)}
    ibits = {
        "conv": _check_bits("index_bits_conv", index_bits_conv),
        "fc": _check_bits("index_bits_fc", index_bits_fc),
    }
    if fine_tune is not None and not callable(fine_tune):
        raise TypeError("fine_tune must be a callable model -> model or None")
    layers = weight_layers(model)
    if not layers:
        raise ValueError("model has no Conv/Linear weights to compress")
    amounts = per_layer_amount(prune_amount, list(layers), "prune_amount")

    accuracy: dict[str, float] = {}

    def measure(stage: str, m: nn.Module) -> None:
        if ds is not None:
            from sckit.data import evaluate

            accuracy[stage] = float(evaluate(m, dataset=ds, size=side))

    measure("original", model)
    t0 = time.perf_counter()
    state = state_tensors(model)
    masks = {n: magnitude_prune(state[n].float().numpy(), amounts[n]) for n in layers}
    prune_s = time.perf_counter() - t0
    fine_tune_s = centroid_s = 0.0
    pruned = rebuild_model(model, {n: state[n] * torch.from_numpy(masks[n]) for n in layers})
    measure("pruned", pruned)
    if fine_tune is not None or retrain:
        tuned, fine_tune_s = retrain_pruned(
            pruned, masks, fine_tune, epochs=epochs, lr=lr, size=side, dataset=ds, progress=progress
        )
        state = state_tensors(tuned)
        state.update({n: state[n] * torch.from_numpy(masks[n]) for n in layers})
        measure("retrained", rebuild_model(model, state))
    t0 = time.perf_counter()
    codebooks = {
        n: _quantize_layer(state[n].float().numpy(), masks[n], bits[k]) for n, k in layers.items()
    }
    quantize_s = time.perf_counter() - t0
    if ds is not None:
        measure("quantized", rebuild_model(model, {**state, **_shared(codebooks, state)}))
    if retrain and centroid_epochs:
        from sckit.transforms.weight_sharing import fine_tune_centroids

        t1 = time.perf_counter()
        shared, centroids = fine_tune_centroids(
            rebuild_model(model, state),
            codebooks,
            epochs=centroid_epochs,
            lr=centroid_lr,
            size=side,
            dataset=ds or "digits",
            progress=progress,
        )
        centroid_s = time.perf_counter() - t1
        state = state_tensors(shared)
        codebooks = {n: (centroids[n], codebooks[n][1]) for n in layers}
    t0 = time.perf_counter()
    blobs: dict[str, bytes] = {}
    rows: list[dict[str, Any]] = []
    for name, kind in layers.items():
        centroids_l, codes_l = codebooks[name]
        blob, row = _encode_layer(codes_l, masks[name], centroids_l, bits[kind], ibits[kind])
        blobs[name] = blob
        rows.append({"layer": name.removesuffix(".weight"), "kind": kind, **row})
    others = {n: t for n, t in state.items() if n not in layers}
    raw = raw_state_bytes(others)
    # training (retraining, centroid fine-tuning) is reported apart
    encode_s = prune_s + quantize_s + time.perf_counter() - t0

    t0 = time.perf_counter()
    decoded: dict[str, torch.Tensor] = {}
    for name in layers:
        flat = _decode_layer(blobs[name], state[name].numel())
        decoded[name] = torch.from_numpy(flat).reshape(state[name].shape)
    decoded.update(state_from_raw(raw, others))
    decode_s = time.perf_counter() - t0
    out_model = rebuild_model(model, decoded)
    measure("final", out_model)

    rows.append(_total_row(rows))
    size = sum(len(b) for b in blobs.values()) + len(raw)
    orig_state = state_tensors(model)
    return BaselineResult(
        method="deep_compression",
        size_bytes=size,
        dense_bytes=dense_bytes(orig_state),
        n_weights=n_elements(orig_state),
        encode_s=encode_s,
        decode_s=decode_s,
        lossless=False,
        model=out_model,
        layers=tuple(rows),
        params={
            "prune_amount": amounts,
            "bits": {n: bits[k] for n, k in layers.items()},
            "index_bits": {n: ibits[k] for n, k in layers.items()},
            "retrained": bool(fine_tune is not None or retrain),
            "dataset": ds,
            "epochs": epochs if retrain and fine_tune is None else 0,
            "centroid_epochs": centroid_epochs if retrain else 0,
            "fine_tune_s": fine_tune_s,
            "centroid_s": centroid_s,
            "accuracy": accuracy,
            "other_bytes": len(raw),
        },
    )


def _shared(
    codebooks: Mapping[str, tuple[np.ndarray, np.ndarray]], state: Mapping[str, Any]
) -> dict[str, Any]:
    """``{weight name: [0, *centroids][codes]}`` as tensors (the quantized weights)."""
    import torch

    out = {}
    for n, (c, codes) in codebooks.items():
        table = np.concatenate(([0.0], c)).astype(np.float32)
        out[n] = torch.from_numpy(table[codes]).to(state[n].dtype)
    return out


def deep_compression_table(result: BaselineResult) -> pd.DataFrame:
    """The Deep Compression result formatted like the paper's Tables 2-5 (string cells)."""
    import pandas as pd

    def k(n: int) -> str:
        return (
            f"{n / 1e6:.0f}M" if n >= 1e6 else f"{n / 1e3:.1f}K" if n < 1e4 else f"{n / 1e3:.0f}K"
        )

    out = []
    for r in result.layers:
        total = r["layer"] == "Total"
        wp = f"{r['weights_pct']:.1f}%"
        pq = f"{r['compress_rate_pq']:.2f}%"
        pqh = f"{r['compress_rate_pqh']:.2f}%"
        if total:
            wp += f" ({100.0 / r['weights_pct']:.0f}×)" if r["weights_pct"] else ""
            pq += f" ({100.0 / r['compress_rate_pq']:.0f}×)"
            pqh += f" ({100.0 / r['compress_rate_pqh']:.0f}×)"
        out.append(
            {
                "Layer": r["layer"],
                "#Weights": k(r["n_weights"]),
                "Weights% (P)": wp,
                "Weight bits (P+Q)": f"{r['weight_bits_pq']:.1f}",
                "Weight bits (P+Q+H)": f"{r['weight_bits_pqh']:.1f}",
                "Index bits (P+Q)": f"{r['index_bits_pq']:.1f}",
                "Index bits (P+Q+H)": f"{r['index_bits_pqh']:.1f}",
                "Compress rate (P+Q)": pq,
                "Compress rate (P+Q+H)": pqh,
            }
        )
    return pd.DataFrame(out)


# The earlier name, kept so existing notebooks and scripts still run.
seed002_table = deep_compression_table
