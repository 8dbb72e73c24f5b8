// float_fields.cu - reassembly of field-split weights into the output tensor on the GPU.
//
// Kernels (launcher: sckit/backends/float_fields.py; logic: float_fields.cuh):
//   ff_merge(sym, base, raw, rps, n_rps, row_len, shift, sign_pos, codebook, n_codebook,
//            e0, count, out, err)
//       one thread per output weight, grid-stride, BLOCK threads per block, grid =
//       min(ceil(count/BLOCK), 65535). Weight e0 + k: its symbol (stream position by
//       arithmetic, delimiters skipped) + its raw field (mantissa, and sign when stored raw) ->
//       its bit pattern, written to out[k] (the output tensor's storage: float32 / float16 /
//       bfloat16 / integer bits). A codebook symbol out of range sets *err (atomicOr) and
//       writes 0. Consecutive threads read consecutive symbols and raw bits: coalesced.
//       Must match sckit.ras.grammar.merge_dense (so RAS.decode / decode_rows for dense RAS)
//       bit for bit.
// Compile-time constants (defaults and checks in sck_launch.cuh): OUT_T (output element: 0 = 8,
// 1 = 16, 2 = 32, 3 = 64 bits), BLOCK.
#include "sck_launch.cuh"
#include "float_fields.cuh"

extern "C" __global__ void __launch_bounds__(BLOCK)
ff_merge(const uint32_t* sym, uint64_t base, const uint64_t* raw, const uint64_t* rps,
         uint32_t n_rps, uint64_t row_len, uint32_t shift, int32_t sign_pos,
         const uint64_t* codebook, uint64_t n_codebook, uint64_t e0, uint64_t count, out_t* out,
         uint32_t* err) {
  FfView f{sym, base, raw, rps, n_rps, row_len, shift, sign_pos, codebook, n_codebook};
  for (uint64_t k = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x; k < count;
       k += (uint64_t)gridDim.x * blockDim.x) {
    uint64_t x = 0;
    if (!ff_merge_one(f, e0 + k, &x)) atomicOr(err, 1u);
    out[k] = (out_t)x;
  }
}
