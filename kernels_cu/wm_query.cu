// wm_query.cu - batched rank and select on a wavelet matrix.
//
// Kernels (launcher: sckit/backends/wm_query.py; layout: wm_core.cuh), one thread per query,
// BLOCK threads per block, grid-stride:
//   wm_rank_many(words, cum, zeros, n_levels, n, n_words, c, positions, m, out)
//       out[q] = rank(c, positions[q]); must match WaveletMatrix.rank_many(c, positions).
//   wm_select_many(words, cum, zeros, n_levels, n, n_words, c, ks, m, out)
//       out[q] = select(c, ks[q]) or UINT64_MAX when c has <= ks[q] occurrences (the launcher
//       turns that into the IndexError the CPU path raises); must match select_many.
#include "sck_launch.cuh"
#include "wm_core.cuh"

extern "C" __global__ void __launch_bounds__(BLOCK)
wm_rank_many(const uint64_t* words, const uint32_t* cum, const uint64_t* zeros,
             uint32_t n_levels, uint64_t n, uint64_t n_words, uint32_t c,
             const uint64_t* positions, uint64_t m, uint64_t* out) {
  WmView v{words, cum, zeros, n_levels, n, n_words};
  for (uint64_t q = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x; q < m;
       q += (uint64_t)gridDim.x * blockDim.x) {
    out[q] = wm_rank(v, c, positions[q]);
  }
}

extern "C" __global__ void __launch_bounds__(BLOCK)
wm_select_many(const uint64_t* words, const uint32_t* cum, const uint64_t* zeros,
               uint32_t n_levels, uint64_t n, uint64_t n_words, uint32_t c,
               const uint64_t* ks, uint64_t m, uint64_t* out) {
  WmView v{words, cum, zeros, n_levels, n, n_words};
  for (uint64_t q = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x; q < m;
       q += (uint64_t)gridDim.x * blockDim.x) {
    out[q] = wm_select(v, c, ks[q]);
  }
}
