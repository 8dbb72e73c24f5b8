"""Runtime-Accessible Sequences (RAS): lossless, queryable weight tensors (paper sections 3-5).

``r = encode(values, kind="block" | "element", sparse=None, codebook="auto")`` turns a numpy
weight tensor into one *symbol stream* held in a Huffman-shaped wavelet matrix (plus, per
entry, raw mantissa bits and, for the sparse form, a distance stream). Everything works on
the integer bit patterns, so decoding is bit-exact for every value (NaN payloads, -0.0,
infinities, denormals).

Grammar
=======
Notation: ``A`` = value alphabet size; value symbols are ``0 .. A-1``; the delimiter of level
``l`` is the symbol ``A + l`` (the paper's ``d_{l+1}``). Tensors are walked in C order.

Values (field split, :mod:`sckit.ras.fields`)::

    dtype     symbol (high bits)    raw bits (low, stored verbatim)   A
    float32   sign+exponent (9)     mantissa (23)                     512
    float16   sign+exponent (6)     mantissa (10)                     64
    bfloat16  sign+exponent (9)     mantissa (7)                      512
    float64   sign+exponent (12)    mantissa (52)                     4096
    int8/uint8    the byte (8)      -                                 256
    int16/uint16  the value (16)    -                                 65536
    int32/uint32  high half (16)    low half (16)                     65536

    codebook form (quantized layers, at most 2**16 distinct patterns): symbol = index of the
    pattern in the sorted codebook, no raw bits, A = codebook size.

    raw sign (floats, chosen per tensor by estimated size; ``r.sign_raw``): symbol = exponent
    only (A halves), raw field = sign << mantissa_bits | mantissa. Weights' signs are nearly a
    fair coin, so coding them costs Huffman redundancy + directory overhead for nothing.

Element-wise RAS (3.1) of a tensor of shape ``(n0, ..., n_{d-1})``, ``d >= 2``, one delimiter
level per leading dimension, each delimiter *before* the slice it opens::

    S      = (d1 S_1(i0))          for i0 in 0..n0-1
    S_l    = (d_{l+1} S_{l+1}(i))  for i in 0..n_l-1      (l = 1 .. d-2)
    S_{d-1} = v v ... v            (the n_{d-1} values of one last-dimension row)

e.g. shape (2, 2, 3): ``d1 d2 v v v d2 v v v d1 d2 v v v d2 v v v``. ``d <= 1``: just the values.

Block-wise RAS (3.2): a block is the operands of one computation kernel, one dim-0 slice (a
conv filter, an output row of a Linear), flattened::

    S = (b v v ... v)  for each of the n0 blocks          (b = A, the only delimiter)

``d <= 1`` tensors are one block: ``b v v ... v``. An empty tensor is an empty stream.

Sparse extension (3.3, :mod:`sckit.ras.sparse`): inside each row (block-wise: a block;
element-wise: a last-dimension row) only entries are written, where an entry is a non-zero
weight (bit pattern != 0) or a filler. The symbol stream holds the entries' value symbols in
place of the dense values (delimiters unchanged); a second wavelet matrix holds one *distance*
per entry, the number of zeros between the entry and its left neighbour (previous entry or row
start), capped at ``max_distance``; a longer gap emits *filler* entries ``(max_distance, 0)``
that skip ``max_distance`` zeros and store one zero. Raw bits are stored per entry.

Queries
=======
- ``decode(out=None)``: whole-tensor range decode of the wavelet matrix, then one numba pass that
  drops delimiters (dense: at positions known from the shape) and joins symbol + raw bits.
- ``decode_rows(start, stop)``: ``select`` on the level-0 delimiter bounds the stream range of
  dim-0 slices ``[start, stop)``; only that range is decoded (paper section 5, step 2).
- ``access(index)``: select-based slicing (appendix B.1) -> ``access`` on the wavelet matrix;
  the raw field of stream position ``q`` is entry ``q - sum_l rank_{d_l}(q)``.
- ``accessor()``: the same with reuse of previous results for nearby accesses (Algorithm 1):
  per-row select/rank results, and a range-decoded window of the wavelet matrix (each level's
  rank computed once at the window start, then advanced incrementally).

Full documentation with examples: ``docs/ras.md``.

Sizes: ``nbytes == len(to_bytes())``; ``h0_bits`` = order-0 bound of what is encoded per weight
(``n_stream * H0(symbol stream incl. delimiters) + entries * raw_bits [+ distance-stream H0]
[+ codebook bits]``, over ``n_weights``); ``delimiter_bits`` = ``n_stream * H0(stream) -
n_entries * H0(value symbols)``, the increase of the bound caused by the delimiters.
"""

from __future__ import annotations

from sckit.ras.core import DTYPES, RAS, from_bytes
from sckit.ras.encoder import encode

__all__ = ["DTYPES", "RAS", "encode", "from_bytes"]
