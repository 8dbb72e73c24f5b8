// wm_core.cuh - wavelet-matrix primitives shared by the sckit CUDA kernels.
//
// Every function is __host__ __device__ so that tests/gpu_harness can run the exact same code on
// the CPU (compiled by nvcc as host code) and compare it bit for bit with sckit.succinct; the
// kernels in wm_decode.cu / wm_query.cu / hwm_decode.cu only add the thread mapping.
//
// GPU layout of a wavelet matrix with L levels over n symbols (built by
// sckit/backends/wm_layout.py from the CPU structure):
//   words[l * n_words + w]      level l, bits LSB-first (bit i = words[i >> 6] >> (i & 63) & 1)
//   cum[l * (n_words + 1) + w]  ones in words [0, w) of level l (uint32; n < 2^32 per launch)
//   zeros[l]                    number of zeros in level l
// Level 0 holds the most significant bit of each symbol (Claude, Navarro, Ordonez 2015).
#pragma once
#include <stdint.h>

#if defined(__CUDACC__)
#define SCK_HD __host__ __device__ __forceinline__
#else
#define SCK_HD inline
#endif

SCK_HD uint32_t sck_popc64(uint64_t x) {
#if defined(__CUDA_ARCH__)
  return (uint32_t)__popcll(x);
#else
  return (uint32_t)__builtin_popcountll(x);
#endif
}

struct WmView {
  const uint64_t* words;
  const uint32_t* cum;
  const uint64_t* zeros;
  uint32_t n_levels;
  uint64_t n;
  uint64_t n_words;
};

SCK_HD uint32_t wm_bit(const WmView& v, uint32_t l, uint64_t i) {
  return (uint32_t)((v.words[l * v.n_words + (i >> 6)] >> (i & 63)) & 1ull);
}

// ones in [0, i) of level l: O(1), one directory read and one popcount.
SCK_HD uint64_t wm_rank1(const WmView& v, uint32_t l, uint64_t i) {
  uint64_t w = i >> 6;
  uint32_t r = (uint32_t)(i & 63);
  uint64_t ones = v.cum[l * (v.n_words + 1) + w];
  if (r) ones += sck_popc64(v.words[l * v.n_words + w] & ((1ull << r) - 1ull));
  return ones;
}

// access(i): O(L). Mirrors sckit.succinct.WaveletMatrix.access.
SCK_HD uint32_t wm_access(const WmView& v, uint64_t i) {
  uint32_t sym = 0;
  for (uint32_t l = 0; l < v.n_levels; ++l) {
    uint32_t bit = wm_bit(v, l, i);
    uint64_t r1 = wm_rank1(v, l, i);
    i = bit ? v.zeros[l] + r1 : i - r1;
    sym = (sym << 1) | bit;
  }
  return sym;
}

// rank(c, i): occurrences of c in [0, i), O(L). Mirrors WaveletMatrix.rank.
SCK_HD uint64_t wm_rank(const WmView& v, uint32_t c, uint64_t i) {
  uint64_t p = 0;
  for (uint32_t l = 0; l < v.n_levels; ++l) {
    uint32_t bit = (c >> (v.n_levels - 1 - l)) & 1u;
    uint64_t rp = wm_rank1(v, l, p), ri = wm_rank1(v, l, i);
    if (bit) { p = v.zeros[l] + rp; i = v.zeros[l] + ri; }
    else     { p = p - rp;          i = i - ri; }
  }
  return i - p;
}

// position of the k-th (0-based) one (want=1) or zero (want=0) of level l, or UINT64_MAX.
// Binary search over the per-word directory, then a scan inside one word: O(log n).
SCK_HD uint64_t wm_select_level(const WmView& v, uint32_t l, uint32_t want, uint64_t k) {
  const uint32_t* cum = v.cum + l * (v.n_words + 1);
  uint64_t lo = 0, hi = v.n_words;  // find the last word w with count_before(w) <= k
  while (lo < hi) {
    uint64_t mid = (lo + hi + 1) >> 1;
    uint64_t before = want ? cum[mid] : (mid << 6) - cum[mid];
    if (before <= k) lo = mid; else hi = mid - 1;
  }
  if (lo >= v.n_words) return UINT64_MAX;
  uint64_t before = want ? cum[lo] : (lo << 6) - cum[lo];
  uint64_t word = v.words[l * v.n_words + lo];
  if (!want) word = ~word;
  uint64_t need = k - before;
  for (uint32_t b = 0; b < 64; ++b) {
    if ((word >> b) & 1ull) {
      if (need == 0) {
        uint64_t pos = (lo << 6) + b;
        return pos < v.n ? pos : UINT64_MAX;
      }
      --need;
    }
  }
  return UINT64_MAX;
}

// select(c, k): position of the k-th (0-based) c, O(L log n); UINT64_MAX when absent.
SCK_HD uint64_t wm_select(const WmView& v, uint32_t c, uint64_t k) {
  // k must exist: otherwise p + k below would land in another symbol's node and the walk up
  // would return that symbol's position instead of failing.
  if (k >= wm_rank(v, c, v.n)) return UINT64_MAX;
  uint64_t p = 0;
  for (uint32_t l = 0; l < v.n_levels; ++l) {  // start of c's node on the last level
    uint32_t bit = (c >> (v.n_levels - 1 - l)) & 1u;
    uint64_t rp = wm_rank1(v, l, p);
    p = bit ? v.zeros[l] + rp : p - rp;
  }
  uint64_t pos = p + k;
  for (int l = (int)v.n_levels - 1; l >= 0; --l) {  // walk back up
    uint32_t bit = (c >> (v.n_levels - 1 - (uint32_t)l)) & 1u;
    pos = bit ? wm_select_level(v, (uint32_t)l, 1u, pos - v.zeros[l])
              : wm_select_level(v, (uint32_t)l, 0u, pos);
    if (pos == UINT64_MAX) return pos;
  }
  return pos;
}
