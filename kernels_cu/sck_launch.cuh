// sck_launch.cuh - compile-time launch constants shared by every sckit kernel file.
//
// The launchers pass them as -D options; the defaults here let each .cu also compile on its own
// (`nvcc -cubin -arch=sm_90 kernels_cu/<file>.cu`).
//   BLOCK  threads per block, a multiple of 32 in [32, 1024] (default 256)
//   OUT_T  output element type of the decode kernels: 0 = uint8, 1 = uint16, 2 = uint32,
//          3 = 64-bit (default 2); defines `out_t`
#pragma once
#include <stdint.h>

#ifndef BLOCK
#define BLOCK 256
#endif
#if BLOCK < 32 || BLOCK > 1024 || BLOCK % 32 != 0
#error "BLOCK must be a multiple of 32 in [32, 1024]"
#endif

#ifndef OUT_T
#define OUT_T 2
#endif
#if OUT_T < 0 || OUT_T > 3
#error "OUT_T must be 0, 1, 2 or 3"
#endif
#if OUT_T == 0
typedef uint8_t out_t;
#elif OUT_T == 1
typedef uint16_t out_t;
#elif OUT_T == 2
typedef uint32_t out_t;
#else
typedef unsigned long long out_t;
#endif
