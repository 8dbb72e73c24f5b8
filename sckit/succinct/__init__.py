"""Succinct data structures over integer sequences (numpy only; no torch).

- :class:`BitVector`: packed bits with O(1) ``rank1``/``rank0`` and sampled ``select1``/``select0``.
- :class:`WaveletMatrix`: ``access``/``rank``/``select`` and range decode in O(log sigma)
  (Claude, Navarro and Ordonez, "The wavelet matrix", Inf. Syst. 2015).
- :class:`HuffmanWaveletMatrix`: the same queries with Huffman-shaped levels, space close to the
  order-0 entropy (same paper, section 5).
"""

from __future__ import annotations

from sckit.succinct.bitvector import BitVector
from sckit.succinct.huffman_wm import HuffmanWaveletMatrix
from sckit.succinct.wavelet_matrix import WaveletMatrix

__all__ = ["BitVector", "HuffmanWaveletMatrix", "WaveletMatrix"]
