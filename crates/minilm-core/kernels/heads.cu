// Moving attention heads between the projections' token-major rows (B*T, width) and attention's
// head-major (B, heads, T, D), with litgpt's half-split RoPE on the way: the first `rope_n` dims of a
// head are split into halves (a, b) and become (a cos - b sin, b cos + a sin); `sign` = -1 rotates back
// (merging undoes splitting's rotation). cos and sin are float32 (positions, rope_n) tables holding the
// rope_n / 2 angles twice. The CPU twin is model/fused/heads.rs.
// One warp per output row (one head's d values at one position), launched as launch.rs's warp_per_row:
// the row is placed once and its lanes read and write the d contiguous values together. The first
// version, a thread per element, spent its time on the four integer divisions that placed each element
// (0.71 ms per layer's splits and merge on an H200, 2026-12-04, where their bytes need about 0.1 ms).
#include "common.cuh"

template <typename T>
__device__ void move_heads(const T* x, T* y, const float* cos, const float* sin, int batch, int t, int heads, int d,
                      int width, int first, int to_head_major, int rope_n, int rope_start, float sign) {
  const size_t out_row = (size_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  if (out_row >= (size_t)batch * t * heads) return;
  size_t source;
  int time;
  if (to_head_major) {
    const size_t b = out_row / ((size_t)heads * t);
    const int head = out_row / t % heads;
    time = out_row % t;
    source = (b * t + time) * width + (size_t)(first + head) * d;
  } else {
    const size_t b = out_row / ((size_t)t * heads);
    const int head = out_row % heads;
    time = out_row / heads % t;
    source = ((b * heads + head) * t + time) * d;
  }
  const T* in = x + source;
  T* out = y + out_row * d;
  const int half = rope_n / 2;
  const float* row_cos = cos + (size_t)(rope_start + time) * rope_n;
  const float* row_sin = sin + (size_t)(rope_start + time) * rope_n;
  for (int i = threadIdx.x % 32; i < d; i += 32) {
    float v = to_float(in[i]);
    if (i < rope_n) {
      const int pair = i < half ? i : i - half;
      const float c = row_cos[pair], s = sign * row_sin[pair];
      v = i < half ? v * c - to_float(in[i + half]) * s : v * c + to_float(in[pair]) * s;
    }
    out[i] = from_float<T>(v);
  }
}
#define MOVE_HEADS(T)                                                                                                  \
  (const T* x, T* y, const float* cos, const float* sin, int batch, int t, int heads, int d, int width, int first, \
   int to_head_major, int rope_n, int rope_start, float sign)
MINILM_FOR_EACH_TYPE(move_heads, MOVE_HEADS,
                     (x, y, cos, sin, batch, t, heads, d, width, first, to_head_major, rope_n, rope_start, sign))
