// wm_decode.cu - wavelet-matrix range decode and batched access on the GPU.
//
// Kernels (launcher: sckit/backends/wm_decode.py; layout: wm_core.cuh):
//   wm_range_decode(words, cum, zeros, n_levels, n, n_words, start, count, out)
//       grid-stride over count symbols, BLOCK threads per block, grid = min(ceil(count/BLOCK),
//       65535). Each warp decodes 32 consecutive symbols per step: at level 0 the 32 positions
//       share one or two words, so the warp reads them once and ranks with __ballot_sync +
//       __popc instead of 32 directory reads; deeper levels use per-lane O(1) rank.
//       Must match sckit.succinct.WaveletMatrix.decode(start, start + count) bit for bit.
//   wm_access_many(words, cum, zeros, n_levels, n, n_words, positions, m, out)
//       one thread per query; must match WaveletMatrix.access_many(positions).
// Compile-time constants (defaults and checks in sck_launch.cuh): OUT_T (0 = uint8, 1 = uint16,
// 2 = uint32), BLOCK.
#include "sck_launch.cuh"
#include "wm_core.cuh"

extern "C" __global__ void __launch_bounds__(BLOCK)
wm_range_decode(const uint64_t* words, const uint32_t* cum, const uint64_t* zeros,
                uint32_t n_levels, uint64_t n, uint64_t n_words, uint64_t start, uint64_t count,
                out_t* out) {
  WmView v{words, cum, zeros, n_levels, n, n_words};
  const uint32_t lane = threadIdx.x & 31u;
  const uint64_t warp = (blockIdx.x * (uint64_t)blockDim.x + threadIdx.x) >> 5;
  const uint64_t n_warps = ((uint64_t)gridDim.x * blockDim.x) >> 5;
  for (uint64_t base = warp * 32; base < count; base += n_warps * 32) {
    const uint64_t j = base + lane;
    const bool live = j < count;
    const unsigned mask = __ballot_sync(0xffffffffu, live);
    if (!live) continue;
    uint64_t i = start + j;
    // level 0: the warp's positions are consecutive, so rank1(i) = rank1(first) + ones among
    // the lanes before this one.
    uint32_t bit = n_levels ? wm_bit(v, 0, i) : 0u;
    uint32_t sym = 0;
    if (n_levels) {
      const unsigned ones = __ballot_sync(mask, bit);
      const uint64_t first = start + base;
      const uint64_t r_first = __shfl_sync(mask, lane == __ffs(mask) - 1 ? wm_rank1(v, 0, first) : 0ull,
                                           __ffs(mask) - 1);
      const uint64_t r1 = r_first + __popc(ones & ((1u << lane) - 1u));
      i = bit ? zeros[0] + r1 : i - r1;
      sym = bit;
    }
    for (uint32_t l = 1; l < n_levels; ++l) {
      bit = wm_bit(v, l, i);
      const uint64_t r1 = wm_rank1(v, l, i);
      i = bit ? zeros[l] + r1 : i - r1;
      sym = (sym << 1) | bit;
    }
    out[j] = (out_t)sym;
  }
}

extern "C" __global__ void __launch_bounds__(BLOCK)
wm_access_many(const uint64_t* words, const uint32_t* cum, const uint64_t* zeros,
               uint32_t n_levels, uint64_t n, uint64_t n_words, const uint64_t* positions,
               uint64_t m, out_t* out) {
  WmView v{words, cum, zeros, n_levels, n, n_words};
  for (uint64_t q = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x; q < m;
       q += (uint64_t)gridDim.x * blockDim.x) {
    out[q] = (out_t)wm_access(v, positions[q]);
  }
}
