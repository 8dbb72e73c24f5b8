// hwm_core.cuh - Huffman-shaped wavelet-matrix primitives shared by the sckit CUDA kernels.
//
// Every function is __host__ __device__ so that tests/gpu/host_harness.cu runs the exact same code
// on the CPU and compares it bit for bit with sckit.succinct.HuffmanWaveletMatrix; the kernels in
// hwm_decode.cu only add the thread mapping.
//
// GPU layout (built by sckit/backends/hwm_layout.py from the CPU structure; the CPU layout is
// described in sckit/succinct/_hwm_kernels.py):
//   words[w]            ALL levels back to back in one bit vector, LSB-first; level l is bits
//                       [lvl_off[l], lvl_off[l] + level_size[l])
//   cum[w]              ones in words [0, w) (uint32, n_words + 1 entries; n_bits < 2^32)
//   child[2 * g + b]    internal node g's b-child: its gid (>= 0), or -(k + 1) for leaf k
//   leaf_sym[k]         symbol of leaf k
//   node_level[g]       level of internal node g (gids are numbered level by level, root 0)
//   lvl_off[l]          absolute first bit of level l (n_levels + 1 entries)
//   lvl_zeros[l]        zeros in level l
//   lvl_base[l]         ones before level l (= rank1(lvl_off[l]))
// A single-symbol sequence has no internal node (n_internal == 0): every symbol is leaf_sym[0].
//
// From absolute position p of level l, with r1 = rank1(p) - lvl_base[l], a 0 bit moves to
// lvl_off[l+1] + (p - lvl_off[l]) - r1 and a 1 bit to lvl_off[l+1] + lvl_zeros[l] + r1
// (Claude, Navarro, Ordonez 2015, section 5).
#pragma once
#include "wm_core.cuh"

// Longest code the CPU structure builds is < 72 (its decoder's stack bound); a corrupt tree
// therefore can never make a walk loop forever.
#define SCK_HWM_MAX_DEPTH 72

struct HwmView {
  const uint64_t* words;
  const uint32_t* cum;
  const int32_t* child;
  const uint32_t* leaf_sym;
  const uint32_t* node_level;
  const uint64_t* lvl_off;
  const uint64_t* lvl_zeros;
  const uint64_t* lvl_base;
  uint32_t n_internal;
  uint64_t n;  // symbols
};

SCK_HD uint32_t hwm_bit(const HwmView& v, uint64_t p) {
  return (uint32_t)((v.words[p >> 6] >> (p & 63)) & 1ull);
}

// ones in bits [0, p) of the whole vector: one directory read and one popcount.
SCK_HD uint64_t hwm_rank1(const HwmView& v, uint64_t p) {
  uint64_t w = p >> 6;
  uint32_t r = (uint32_t)(p & 63);
  uint64_t ones = v.cum[w];
  if (r) ones += sck_popc64(v.words[w] & ((1ull << r) - 1ull));
  return ones;
}

// Position in the next level of internal node g's element at absolute position p, whose bit
// is `bit` and which has r1 ones before it in its level. Mirrors _hwm_kernels._child_cursor.
SCK_HD uint64_t hwm_next_pos(const HwmView& v, uint32_t g, uint64_t p, uint32_t bit,
                             uint64_t r1) {
  uint32_t lev = v.node_level[g];
  return bit ? v.lvl_off[lev + 1] + v.lvl_zeros[lev] + r1
             : v.lvl_off[lev + 1] + (p - v.lvl_off[lev]) - r1;
}

SCK_HD uint64_t hwm_level_rank1(const HwmView& v, uint32_t g, uint64_t p) {
  return hwm_rank1(v, p) - v.lvl_base[v.node_level[g]];
}

// The symbol reached from internal node g at absolute position p: one rank per level left.
SCK_HD uint32_t hwm_walk(const HwmView& v, uint32_t g, uint64_t p) {
  for (int depth = 0; depth < SCK_HWM_MAX_DEPTH; ++depth) {
    uint32_t bit = hwm_bit(v, p);
    int32_t ch = v.child[2 * g + bit];
    if (ch < 0) return v.leaf_sym[-(ch + 1)];
    p = hwm_next_pos(v, g, p, bit, hwm_level_rank1(v, g, p));
    g = (uint32_t)ch;
  }
  return 0xffffffffu;  // unreachable on a structure built by sckit (see SCK_HWM_MAX_DEPTH)
}

// access(i), 0 <= i < n: O(code length). Mirrors HuffmanWaveletMatrix.access_many.
SCK_HD uint32_t hwm_access(const HwmView& v, uint64_t i) {
  if (v.n_internal == 0) return v.leaf_sym[0];
  return hwm_walk(v, 0, i);  // the root is level 0, which starts at bit 0
}

// One root step for position i when its bit and rank are already known (the kernels compute
// them for a whole warp at once); returns the symbol.
SCK_HD uint32_t hwm_access_from_root(const HwmView& v, uint64_t i, uint32_t bit, uint64_t r1) {
  int32_t ch = v.child[bit];
  if (ch < 0) return v.leaf_sym[-(ch + 1)];
  return hwm_walk(v, (uint32_t)ch, hwm_next_pos(v, 0, i, bit, r1));
}
