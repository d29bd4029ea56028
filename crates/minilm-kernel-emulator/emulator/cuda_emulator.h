// CUDA's execution model on the CPU, for running minilm's kernels (crates/minilm-core/kernels/*.cu) in CI
// without a GPU. build.rs compiles each .cu file as host C++ with this header included first; a kernel
// becomes a plain function that runtime.cpp calls once per thread of the grid.
//
// What it emulates:
//   - grid and block indices: threadIdx, blockIdx, blockDim, gridDim;
//   - the threads of a block run as fibers (ucontext) on one OS thread, so __syncthreads is a real
//     barrier; blocks run one after another;
//   - __shared__ variables are per block (static storage, which the block's fibers share);
//   - warp shuffles (__shfl_sync, __shfl_xor_sync, __shfl_down_sync, __shfl_up_sync) exchange values
//     between the 32 lanes of a warp, and fail the launch when the mask names a lane that does not exist,
//     has exited, or the lanes do not all arrive (a deadlock is reported, never a hang);
//   - atomics (atomicAdd, atomicMax, atomicCAS, atomicExch): one fiber runs at a time, so they are
//     plain read-modify-writes;
//   - bfloat16 conversions with CUDA's rounding (__float2bfloat16_rn: round to nearest even, NaN kept).
// Built with AddressSanitizer (build.rs), a read or write outside a global buffer (an exact-size host
// allocation) or a static __shared__ array fails the run with the kernel's source line.
//
// What it cannot catch:
//   - speed, occupancy, memory coalescing and shared-memory bank conflicts;
//   - races that only real warps show: fibers switch only at barriers and shuffles. runtime.cpp lets
//     one warp run ahead of the others, in a shuffled order, which exposes a missing __syncthreads
//     between phases that reuse shared memory, but not every interleaving a GPU may produce;
//   - shared memory is not cleared between blocks, so a read of shared memory before any thread of the
//     block wrote it sees the previous block's values, not garbage;
//   - intrinsics are computed exactly (__expf as expf, rsqrtf as 1 / sqrtf): the GPU's fast versions
//     differ by a few ulps, inside the tolerances the checks use;
//   - dynamic shared memory (extern __shared__) is not supported; the launch shape's size is checked
//     against the device's limits in Rust (launch.rs) instead;
//   - the size of a kernel's static __shared__ arrays (48 KB at most) is not checked here: ptxas checks it,
//     and scripts/cuda/ptxas-report.sh runs ptxas without a GPU (it caught flash attention declaring its
//     tiles once per head size, 75 KB, which the emulator ran happily).
#pragma once
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __shared__ static

struct dim3 {
  unsigned x, y, z;
};

namespace minilm_emu {
// The launch's and the running fiber's indices (runtime.cpp keeps them current).
extern dim3 grid_dim, block_dim, block_idx;
const dim3& thread_idx();
void sync_threads();
// Lanes in `mask` exchange 8-byte slots: returns the slot `source_lane` wrote, for the calling lane.
uint64_t warp_exchange(unsigned mask, uint64_t value, int source_lane);
int lane_id();

template <typename T>
T shuffle(unsigned mask, T value, int source_lane) {
  static_assert(sizeof(T) <= 8, "a warp shuffle moves at most 8 bytes");
  uint64_t bits = 0;
  memcpy(&bits, &value, sizeof(T));
  bits = warp_exchange(mask, bits, source_lane);
  T out;
  memcpy(&out, &bits, sizeof(T));
  return out;
}
}  // namespace minilm_emu

#define threadIdx (minilm_emu::thread_idx())
#define blockIdx (minilm_emu::block_idx)
#define blockDim (minilm_emu::block_dim)
#define gridDim (minilm_emu::grid_dim)
#define warpSize 32

inline void __syncthreads() { minilm_emu::sync_threads(); }

template <typename T>
T __shfl_sync(unsigned mask, T value, int source_lane, int width = 32) {
  const int lane = minilm_emu::lane_id();
  return minilm_emu::shuffle(mask, value, (lane & ~(width - 1)) + (source_lane & (width - 1)));
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T value, int lane_mask, int width = 32) {
  const int lane = minilm_emu::lane_id();
  const int source = lane ^ lane_mask;
  // Like the hardware: a source outside the lane's segment of `width` lanes returns its own value.
  return minilm_emu::shuffle(mask, value, (source & ~(width - 1)) == (lane & ~(width - 1)) ? source : lane);
}
template <typename T>
T __shfl_down_sync(unsigned mask, T value, unsigned delta, int width = 32) {
  const int lane = minilm_emu::lane_id(), source = lane + (int)delta;
  return minilm_emu::shuffle(mask, value, (source & ~(width - 1)) == (lane & ~(width - 1)) ? source : lane);
}
template <typename T>
T __shfl_up_sync(unsigned mask, T value, unsigned delta, int width = 32) {
  const int lane = minilm_emu::lane_id(), source = lane - (int)delta;
  return minilm_emu::shuffle(mask, value, source >= (lane & ~(width - 1)) ? source : lane);
}

// Atomics: fibers never switch inside these, so a plain read-modify-write is atomic.
template <typename T>
T atomicAdd(T* address, T value) {
  T old = *address;
  *address = old + value;
  return old;
}
template <typename T>
T atomicMax(T* address, T value) {
  T old = *address;
  *address = old > value ? old : value;
  return old;
}
template <typename T>
T atomicExch(T* address, T value) {
  T old = *address;
  *address = value;
  return old;
}
template <typename T>
T atomicCAS(T* address, T compare, T value) {
  T old = *address;
  if (old == compare) *address = value;
  return old;
}

// Math intrinsics, computed exactly (see the header's limits).
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float rsqrtf(float x) { return 1.f / sqrtf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline size_t min(size_t a, size_t b) { return a < b ? a : b; }
inline size_t max(size_t a, size_t b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
