// What every minilm kernel shares: the two element types (float32, bfloat16) with float32 arithmetic,
// block-wide sums in a fixed order (so results are the same bits on every run), and the macro that
// instantiates a template once per element type under the names the Rust side loads.
#pragma once
#include <cuda_bf16.h>
#include <stdint.h>

typedef __nv_bfloat16 bf16;

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(bf16 v) { return __bfloat162float(v); }

template <typename T> __device__ __forceinline__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ bf16 from_float<bf16>(float v) { return __float2bfloat16_rn(v); }

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffff, v, offset);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffff, v, offset));
  return v;
}

// The sum of every thread's `v` over a block of up to 1024 threads, returned to all of them. `scratch`
// holds 32 floats of shared memory. The order of additions depends only on the block size.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by an earlier call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : 0.f;
  return warp_sum(v);
}

__device__ __forceinline__ float block_max(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : -INFINITY;
  return warp_max(v);
}

// extern "C" entry points NAME_f32 and NAME_bf16 for the device function template NAME<T>, so the Rust
// side loads them by name. PARAMS is a function-like macro giving the parameter list for an element
// type; ARGS is the parenthesised argument names.
#define MINILM_FOR_EACH_TYPE(NAME, PARAMS, ARGS)                            \
  extern "C" __global__ void NAME##_f32 PARAMS(float) { NAME<float> ARGS; } \
  extern "C" __global__ void NAME##_bf16 PARAMS(bf16) { NAME<bf16> ARGS; }
