// Host-side harness: runs the __host__ __device__ primitives of kernels_cu/*.cuh on the CPU so the
// kernels' decode logic is checked against sckit.succinct on machines without a GPU.
// Built by tests/gpu/test_kernel_logic.py with `nvcc -shared`; called through ctypes.
#include "wm_core.cuh"
#include "hwm_core.cuh"
#include "float_fields.cuh"

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

// --- Huffman-shaped wavelet matrix (hwm_core.cuh) -------------------------------------------
#define HWM_ARGS                                                                               \
  const uint64_t *words, const uint32_t *cum, const int32_t *child, const uint32_t *leaf_sym, \
      const uint32_t *node_level, const uint64_t *lvl_off, const uint64_t *lvl_zeros,          \
      const uint64_t *lvl_base, uint32_t n_internal, uint64_t n
#define HWM_VIEW \
  HwmView v{words, cum, child, leaf_sym, node_level, lvl_off, lvl_zeros, lvl_base, n_internal, n}

void host_hwm_access_many(HWM_ARGS, const uint64_t* positions, uint64_t m, uint32_t* out) {
  HWM_VIEW;
  for (uint64_t q = 0; q < m; ++q) out[q] = hwm_access(v, positions[q]);
}

// The thread mapping of hwm_range_decode replayed on one core: per group of 32 consecutive
// positions, the first position's rank plus the popcount of the "ballot" of the lanes before.
extern "C++" {  // templates cannot have C linkage
template <typename T>
static void hwm_range_decode_t(HWM_ARGS, uint64_t start, uint64_t count, T* out) {
  HWM_VIEW;
  if (n_internal == 0) {
    for (uint64_t j = 0; j < count; ++j) out[j] = (T)leaf_sym[0];
    return;
  }
  for (uint64_t base = 0; base < count; base += 32) {
    uint32_t lanes = (uint32_t)(count - base < 32 ? count - base : 32);
    uint32_t ballot = 0;
    for (uint32_t lane = 0; lane < lanes; ++lane) ballot |= hwm_bit(v, start + base + lane) << lane;
    uint64_t r_first = hwm_rank1(v, start + base);
    for (uint32_t lane = 0; lane < lanes; ++lane) {
      uint64_t r1 = r_first + __builtin_popcount(ballot & ((1u << lane) - 1u));
      out[base + lane] =
          (T)hwm_access_from_root(v, start + base + lane, (ballot >> lane) & 1u, r1);
    }
  }
}
}  // extern "C++"

void host_hwm_range_decode(HWM_ARGS, uint64_t start, uint64_t count, uint32_t* out) {
  hwm_range_decode_t(words, cum, child, leaf_sym, node_level, lvl_off, lvl_zeros, lvl_base,
                     n_internal, n, start, count, out);
}

// --- field merge (float_fields.cuh) ---------------------------------------------------------
// Weights [e0, e0 + count) into out (uint64 bit patterns); returns the number of codebook
// symbols out of range (the kernel's err flag).
uint64_t host_ff_merge(const uint32_t* sym, uint64_t base, const uint64_t* raw, const uint64_t* rps,
                       uint32_t n_rps, uint64_t row_len, uint32_t shift, int32_t sign_pos,
                       const uint64_t* codebook, uint64_t n_codebook, uint64_t e0, uint64_t count,
                       uint64_t* out) {
  FfView f{sym, base, raw, rps, n_rps, row_len, shift, sign_pos, codebook, n_codebook};
  uint64_t bad = 0;
  for (uint64_t k = 0; k < count; ++k) {
    uint64_t x = 0;
    if (!ff_merge_one(f, e0 + k, &x)) ++bad;
    out[k] = x;
  }
  return bad;
}

// Stream position of weight e (both the 32-bit fast path and the 64-bit one).
uint64_t host_ff_stream_pos(const uint64_t* rps, uint32_t n_rps, uint64_t row_len, uint64_t e) {
  FfView f{nullptr, 0, nullptr, rps, n_rps, row_len, 0, -1, nullptr, 0};
  return ff_stream_pos(f, e);
}

// --- kernel-signature emulators -------------------------------------------------------------
// emu_<kernel>_<OUT_T>: the exact argument list of the __global__ kernel, run serially on the
// host. tests/gpu/test_launchers_emulated.py swaps KernelModule for a double that calls these,
// so the Python launchers' argument order, types and sizes are checked without a GPU.
#define EMU_HWM(T, SUFFIX)                                                                  \
  void emu_hwm_range_decode_##SUFFIX(HWM_ARGS, uint64_t start, uint64_t count, T* out) {    \
    hwm_range_decode_t(words, cum, child, leaf_sym, node_level, lvl_off, lvl_zeros, lvl_base, \
                       n_internal, n, start, count, out);                                   \
  }                                                                                         \
  void emu_hwm_access_many_##SUFFIX(HWM_ARGS, const uint64_t* positions, uint64_t m, T* out) { \
    HWM_VIEW;                                                                               \
    for (uint64_t q = 0; q < m; ++q) out[q] = (T)hwm_access(v, positions[q]);               \
  }
EMU_HWM(uint8_t, 0)
EMU_HWM(uint16_t, 1)
EMU_HWM(uint32_t, 2)

#define EMU_FF(T, SUFFIX)                                                                      \
  void emu_ff_merge_##SUFFIX(const uint32_t* sym, uint64_t base, const uint64_t* raw,          \
                             const uint64_t* rps, uint32_t n_rps, uint64_t row_len,            \
                             uint32_t shift, int32_t sign_pos, const uint64_t* codebook,       \
                             uint64_t n_codebook, uint64_t e0, uint64_t count, T* out,         \
                             uint32_t* err) {                                                  \
    FfView f{sym, base, raw, rps, n_rps, row_len, shift, sign_pos, codebook, n_codebook};      \
    for (uint64_t k = 0; k < count; ++k) {                                                     \
      uint64_t x = 0;                                                                          \
      if (!ff_merge_one(f, e0 + k, &x)) *err |= 1u;                                            \
      out[k] = (T)x;                                                                           \
    }                                                                                          \
  }
EMU_FF(uint8_t, 0)
EMU_FF(uint16_t, 1)
EMU_FF(uint32_t, 2)
EMU_FF(uint64_t, 3)

}
