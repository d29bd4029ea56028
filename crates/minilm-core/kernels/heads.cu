// Moving attention heads between the projections' token-major rows (B*T, width) and attention's
// head-major (B, heads, T, D), with litgpt's half-split RoPE on the way: the first `rope_n` dims of a
// head are split into halves (a, b) and become (a cos - b sin, b cos + a sin); `sign` = -1 rotates back
// (merging undoes splitting's rotation). cos and sin are float32 (positions, rope_n) tables holding the
// rope_n / 2 angles twice. The CPU twin is model/fused/heads.rs.
//
// A thread moves a chunk of 16 bytes (8 bf16 or 4 float32 values of one row) with one load and one
// store where the shapes and pointers allow it, else one value. Bytes in flight are what this kernel
// is short of: the first version, a thread per 2-byte value, moved a layer's heads at about 0.6 TB/s on
// an H200 (0.71 ms per layer's splits and merge, 2026-12-04), and a warp per row with the same 2-byte
// accesses barely did better (0.64 ms).
#include "common.cuh"

template <typename T, int V>
struct alignas(sizeof(T) * V) Chunk {
  T v[V];
};

template <typename T, int V>
__device__ void move_chunks(const T* x, T* y, const float* cos, const float* sin, int batch, int t, int heads, int d,
                            int width, int first, int to_head_major, int rope_n, int rope_start, float sign) {
  const int chunks = d / V, half = rope_n / 2;
  const size_t total = (size_t)batch * t * heads * chunks;
  for (size_t item = blockIdx.x * (size_t)blockDim.x + threadIdx.x; item < total; item += (size_t)gridDim.x * blockDim.x) {
    const size_t out_row = item / chunks;
    const int i = item % chunks * V;
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
    const Chunk<T, V> in = *reinterpret_cast<const Chunk<T, V>*>(x + source + i);
    Chunk<T, V> out;
    if (i < rope_n) {
      // A chunk lies wholly in one half (the launcher's V divides half), so its partner is one chunk too.
      const bool first_half = i < half;
      const int pair = first_half ? i : i - half;
      const Chunk<T, V> partner = *reinterpret_cast<const Chunk<T, V>*>(x + source + (first_half ? i + half : pair));
      const float* angle_cos = cos + (size_t)(rope_start + time) * rope_n + pair;
      const float* angle_sin = sin + (size_t)(rope_start + time) * rope_n + pair;
      for (int k = 0; k < V; ++k) {
        const float v = to_float(in.v[k]), p = to_float(partner.v[k]), c = angle_cos[k], s = sign * angle_sin[k];
        out.v[k] = from_float<T>(first_half ? v * c - p * s : v * c + p * s);
      }
    } else {
      out = in;
    }
    *reinterpret_cast<Chunk<T, V>*>(y + out_row * d + i) = out;
  }
}

template <typename T>
__device__ void move_heads(const T* x, T* y, const float* cos, const float* sin, int batch, int t, int heads, int d,
                           int width, int first, int to_head_major, int rope_n, int rope_start, float sign) {
  constexpr int V = 16 / sizeof(T);
  const bool aligned = (size_t)x % 16 == 0 && (size_t)y % 16 == 0;
  if (aligned && d % V == 0 && width % V == 0 && (first * d) % V == 0 && (rope_n / 2) % V == 0) {
    move_chunks<T, V>(x, y, cos, sin, batch, t, heads, d, width, first, to_head_major, rope_n, rope_start, sign);
  } else {
    move_chunks<T, 1>(x, y, cos, sin, batch, t, heads, d, width, first, to_head_major, rope_n, rope_start, sign);
  }
}
#define MOVE_HEADS(T)                                                                                                  \
  (const T* x, T* y, const float* cos, const float* sin, int batch, int t, int heads, int d, int width, int first, \
   int to_head_major, int rope_n, int rope_start, float sign)
MINILM_FOR_EACH_TYPE(move_heads, MOVE_HEADS,
                     (x, y, cos, sin, batch, t, heads, d, width, first, to_head_major, rope_n, rope_start, sign))
