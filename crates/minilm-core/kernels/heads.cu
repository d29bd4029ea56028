// Moving attention heads between the projections' token-major rows (B*T, width) and attention's
// head-major (B, heads, T, D), with litgpt's half-split RoPE on the way: the first `rope_n` dims of a
// head are split into halves (a, b) and become (a cos - b sin, b cos + a sin); `sign` = -1 rotates back
// (merging undoes splitting's rotation). cos and sin are float32 (positions, rope_n) tables holding the
// rope_n / 2 angles twice. The CPU twin is model/fused/heads.rs. One thread per output element.
#include "common.cuh"

template <typename T>
__device__ void move_heads(const T* x, T* y, const float* cos, const float* sin, int batch, int t, int heads, int d,
                      int width, int first, int to_head_major, int rope_n, int rope_start, float sign) {
  const size_t total = (size_t)batch * t * heads * d;
  for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
    const size_t out_row = e / d;
    const int i = e % d;
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
    float v = to_float(x[source + i]);
    if (i < rope_n) {
      const int half = rope_n / 2, pair = i < half ? i : i - half;
      const size_t angle = (size_t)(rope_start + time) * rope_n + pair;
      const float c = cos[angle], s = sign * sin[angle];
      if (i < half) {
        v = v * c - to_float(x[source + i + half]) * s;
      } else {
        v = v * c + to_float(x[source + pair]) * s;
      }
    }
    y[e] = from_float<T>(v);
  }
}
#define MOVE_HEADS(T)                                                                                                  \
  (const T* x, T* y, const float* cos, const float* sin, int batch, int t, int heads, int d, int width, int first, \
   int to_head_major, int rope_n, int rope_start, float sign)
MINILM_FOR_EACH_TYPE(move_heads, MOVE_HEADS,
                     (x, y, cos, sin, batch, t, heads, d, width, first, to_head_major, rope_n, rope_start, sign))
