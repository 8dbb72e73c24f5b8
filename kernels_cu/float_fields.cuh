// float_fields.cuh - reassembly of field-split weights (sckit.ras) shared by the CUDA kernels.
//
// Every function is __host__ __device__ so that tests/gpu/host_harness.cu runs the exact same
// merge on the CPU over a real RAS's arrays and compares it with RAS.decode() bit for bit.
//
// What is merged (sckit/ras/fields.py, grammar.py):
//   - a dense symbol stream: before row r, one delimiter per level l with r % rps[l] == 0, so
//     weight e (row r = e / row_len) sits at stream position e + sum_l (r / rps[l] + 1); the
//     merge skips delimiters by this arithmetic, never by scanning;
//   - the packed raw fields: entry e is bits [e * width, (e + 1) * width) of a uint64 array,
//     LSB-first, with one padding word (width = mantissa bits, + 1 when the sign is raw);
//   - the formula x = sym << shift | (v & (2^shift - 1)) | (v >> shift) << sign_pos, where
//     v >> shift is 0 when the sign is part of the symbol (sign_pos < 0);
//   - or, with a codebook, x = codebook[sym] (a symbol past the codebook is corruption).
#pragma once
#include "wm_core.cuh"

struct FfView {
  const uint32_t* sym;       // stream symbols of positions [base, base + n_sym)
  uint64_t base;             // stream position of sym[0]
  const uint64_t* raw;       // packed raw entries (+ padding word); unused when width == 0
  const uint64_t* rps;       // rows per slice of each delimiter level, outermost first
  uint32_t n_rps;            // delimiter levels (block-wise: 1; element-wise: ndim - 1)
  uint64_t row_len;          // weights per row
  uint32_t shift;            // mantissa bits (0 with a codebook)
  int32_t sign_pos;          // bit position of a raw sign, or -1 when the sign is in the symbol
  const uint64_t* codebook;  // bit patterns (widened to uint64), or unused
  uint64_t n_codebook;       // 0: no codebook
};

// Dense stream position of weight e. 64-bit division is a long software sequence on the GPU,
// so tensors below 2^32 weights (all of them in practice) divide in 32 bits; same result.
SCK_HD uint64_t ff_stream_pos(const FfView& f, uint64_t e) {
  uint64_t p = e;
  if ((e >> 32) == 0 && (f.row_len >> 32) == 0) {
    uint32_t r = (uint32_t)e / (uint32_t)f.row_len;
    for (uint32_t l = 0; l < f.n_rps; ++l)  // a slice of >= 2^32 rows: r / rps = 0
      p += ((f.rps[l] >> 32) ? 0u : r / (uint32_t)f.rps[l]) + 1;
    return p;
  }
  uint64_t r = e / f.row_len;
  for (uint32_t l = 0; l < f.n_rps; ++l) p += r / f.rps[l] + 1;
  return p;
}

// Raw entry e of `width` (1..64) bits: one or two word reads, branch-free on the word boundary
// (the double shift avoids the undefined shift by 64 when the entry is word-aligned).
SCK_HD uint64_t ff_read_raw(const uint64_t* raw, uint64_t e, uint32_t width) {
  uint64_t bit = e * width;
  uint64_t w = bit >> 6;
  uint32_t o = (uint32_t)(bit & 63);
  uint64_t v = (raw[w] >> o) | ((raw[w + 1] << 1) << (63 - o));
  return width >= 64 ? v : v & ((1ull << width) - 1ull);
}

// Bit pattern of weight e into *x; returns false for a codebook symbol out of range (corrupt
// stream, as grammar.merge_dense reports with -1). Mirrors sckit.ras.grammar.merge_dense.
SCK_HD bool ff_merge_one(const FfView& f, uint64_t e, uint64_t* x) {
  uint64_t s = f.sym[ff_stream_pos(f, e) - f.base];
  if (f.n_codebook) {
    if (s >= f.n_codebook) return false;
    *x = f.codebook[s];
    return true;
  }
  uint32_t width = f.shift + (f.sign_pos >= 0 ? 1u : 0u);
  if (width == 0) {
    *x = s;
    return true;
  }
  uint64_t v = ff_read_raw(f.raw, e, width);
  uint64_t mmask = f.shift >= 64 ? ~0ull : (1ull << f.shift) - 1ull;
  uint64_t sign = f.sign_pos >= 0 ? (v >> f.shift) << (uint32_t)f.sign_pos : 0ull;
  *x = (s << f.shift) | (v & mmask) | sign;
  return true;
}
