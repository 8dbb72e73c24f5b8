// Host-side harness: runs the __host__ __device__ primitives of kernels_cu/*.cuh on the CPU so the
// kernels' decode logic is checked against sckit.succinct on machines without a GPU.
// Built by tests/gpu/test_kernel_logic.py with `nvcc -shared`; called through ctypes.
#include "wm_core.cuh"

extern "C" {

void host_wm_access_many(const uint64_t* words, const uint32_t* cum, const uint64_t* zeros,
                         uint32_t n_levels, uint64_t n, uint64_t n_words,
                         const uint64_t* positions, uint64_t m, uint32_t* out) {
  WmView v{words, cum, zeros, n_levels, n, n_words};
  for (uint64_t q = 0; q < m; ++q) out[q] = wm_access(v, positions[q]);
}

void host_wm_rank_many(const uint64_t* words, const uint32_t* cum, const uint64_t* zeros,
                       uint32_t n_levels, uint64_t n, uint64_t n_words, uint32_t c,
                       const uint64_t* positions, uint64_t m, uint64_t* out) {
  WmView v{words, cum, zeros, n_levels, n, n_words};
  for (uint64_t q = 0; q < m; ++q) out[q] = wm_rank(v, c, positions[q]);
}

void host_wm_select_many(const uint64_t* words, const uint32_t* cum, const uint64_t* zeros,
                         uint32_t n_levels, uint64_t n, uint64_t n_words, uint32_t c,
                         const uint64_t* ks, uint64_t m, uint64_t* out) {
  WmView v{words, cum, zeros, n_levels, n, n_words};
  for (uint64_t q = 0; q < m; ++q) out[q] = wm_select(v, c, ks[q]);
}

}
