// hwm_decode.cu - Huffman-shaped wavelet-matrix range decode and batched access on the GPU.
//
// Kernels (launcher: sckit/backends/hwm_decode.py; layout: hwm_core.cuh):
//   hwm_range_decode(words, cum, child, leaf_sym, node_level, lvl_off, lvl_zeros, lvl_base,
//                    n_internal, n, start, count, out)
//       grid-stride over count symbols, BLOCK threads per block, grid = min(ceil(count/BLOCK),
//       65535). Each warp decodes 32 consecutive symbols per step: at the root (level 0) the 32
//       positions are consecutive, so one lane ranks the first position and the others add
//       __popc of the __ballot_sync of their bits; below the root each lane walks its own
//       path with O(1) directory ranks (paths diverge with the code tree).
//       Must match sckit.succinct.HuffmanWaveletMatrix.decode(start, start + count) bit for bit.
//   hwm_access_many(words, cum, child, leaf_sym, node_level, lvl_off, lvl_zeros, lvl_base,
//                   n_internal, n, positions, m, out)
//       one thread per query, grid-stride; must match HuffmanWaveletMatrix.access_many(positions).
// Compile-time constants (defaults and checks in sck_launch.cuh): OUT_T (0 = uint8, 1 = uint16,
// 2 = uint32), BLOCK.
#include "sck_launch.cuh"
#include "hwm_core.cuh"

extern "C" __global__ void __launch_bounds__(BLOCK)
hwm_range_decode(const uint64_t* words, const uint32_t* cum, const int32_t* child,
                 const uint32_t* leaf_sym, const uint32_t* node_level, const uint64_t* lvl_off,
                 const uint64_t* lvl_zeros, const uint64_t* lvl_base, uint32_t n_internal,
                 uint64_t n, uint64_t start, uint64_t count, out_t* out) {
  HwmView v{words, cum, child, leaf_sym, node_level, lvl_off, lvl_zeros, lvl_base, n_internal, n};
  const uint32_t lane = threadIdx.x & 31u;
  const uint64_t warp = (blockIdx.x * (uint64_t)blockDim.x + threadIdx.x) >> 5;
  const uint64_t n_warps = ((uint64_t)gridDim.x * blockDim.x) >> 5;
  if (n_internal == 0) {  // one distinct symbol: no bits at all
    for (uint64_t j = warp * 32 + lane; j < count; j += n_warps * 32) out[j] = (out_t)leaf_sym[0];
    return;
  }
  for (uint64_t base = warp * 32; base < count; base += n_warps * 32) {
    const uint64_t j = base + lane;
    const bool live = j < count;
    const unsigned mask = __ballot_sync(0xffffffffu, live);
    if (!live) continue;
    const uint64_t i = start + j;
    const uint32_t bit = hwm_bit(v, i);
    const unsigned ones = __ballot_sync(mask, bit);
    const int leader = __ffs(mask) - 1;  // lane 0: live lanes are a prefix of the warp
    const uint64_t r_first = __shfl_sync(mask, lane == (uint32_t)leader ? hwm_rank1(v, start + base)
                                                                        : 0ull, leader);
    const uint64_t r1 = r_first + __popc(ones & ((1u << lane) - 1u));
    out[j] = (out_t)hwm_access_from_root(v, i, bit, r1);
  }
}

extern "C" __global__ void __launch_bounds__(BLOCK)
hwm_access_many(const uint64_t* words, const uint32_t* cum, const int32_t* child,
                const uint32_t* leaf_sym, const uint32_t* node_level, const uint64_t* lvl_off,
                const uint64_t* lvl_zeros, const uint64_t* lvl_base, uint32_t n_internal,
                uint64_t n, const uint64_t* positions, uint64_t m, out_t* out) {
  HwmView v{words, cum, child, leaf_sym, node_level, lvl_off, lvl_zeros, lvl_base, n_internal, n};
  for (uint64_t q = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x; q < m;
       q += (uint64_t)gridDim.x * blockDim.x) {
    out[q] = (out_t)hwm_access(v, positions[q]);
  }
}
