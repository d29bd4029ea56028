// The part of CUDA's cuda_bf16.h that minilm's kernels use, for the CPU emulator (cuda_emulator.h): the
// bfloat16 type and its conversions, rounding as the GPU rounds.
#pragma once
#include <stdint.h>
#include <string.h>

struct __nv_bfloat16 {
  uint16_t bits;
};

inline float __bfloat162float(__nv_bfloat16 v) {
  const uint32_t bits = (uint32_t)v.bits << 16;
  float out;
  memcpy(&out, &bits, 4);
  return out;
}

// Round to nearest, ties to even; a NaN stays a (quiet) NaN, as __float2bfloat16_rn does.
inline __nv_bfloat16 __float2bfloat16_rn(float v) {
  uint32_t bits;
  memcpy(&bits, &v, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return __nv_bfloat16{(uint16_t)((bits >> 16) | 0x0040u)};
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return __nv_bfloat16{(uint16_t)(bits >> 16)};
}

inline __nv_bfloat16 __float2bfloat16(float v) { return __float2bfloat16_rn(v); }
