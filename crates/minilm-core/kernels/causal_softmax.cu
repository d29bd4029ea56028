// Attention's causal softmax over rows of `keys` scores: row r is a query at position
// first_position + r % query_len and sees keys 0..=that position; the others get weight 0. Computed in
// float32 whatever T is. The CPU twin is model/fused/causal_softmax.rs. One warp per row.
#include "common.cuh"

__device__ __forceinline__ int visible_keys(size_t row, int keys, int query_len, int first_position) {
  return min(keys, first_position + (int)(row % query_len) + 1);
}

template <typename T>
__device__ void causal_softmax_forward(const T* scores, T* weights, int rows, int keys, int query_len,
                                       int first_position, float scale) {
  const size_t row = (size_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= (size_t)rows) return;
  const int lane = threadIdx.x & 31, visible = visible_keys(row, keys, query_len, first_position);
  const T* s = scores + row * keys;
  T* w = weights + row * keys;
  float max = -INFINITY;
  for (int k = lane; k < visible; k += 32) max = fmaxf(max, to_float(s[k]) * scale);
  max = warp_max(max);
  float sum = 0.f;
  for (int k = lane; k < visible; k += 32) sum += __expf(to_float(s[k]) * scale - max);
  const float inverse = 1.f / warp_sum(sum);
  for (int k = lane; k < keys; k += 32) w[k] = from_float<T>(k < visible ? __expf(to_float(s[k]) * scale - max) * inverse : 0.f);
}
#define CAUSAL_SOFTMAX_FORWARD(T) \
  (const T* scores, T* weights, int rows, int keys, int query_len, int first_position, float scale)
MINILM_FOR_EACH_TYPE(causal_softmax_forward, CAUSAL_SOFTMAX_FORWARD,
                     (scores, weights, rows, keys, query_len, first_position, scale))

// d_scores = scale * w * (dw - sum(dw * w)) where the key is visible, else 0.
template <typename T>
__device__ void causal_softmax_backward(const T* weights, const T* d_weights, T* d_scores, int rows, int keys,
                                        int query_len, int first_position, float scale) {
  const size_t row = (size_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= (size_t)rows) return;
  const int lane = threadIdx.x & 31, visible = visible_keys(row, keys, query_len, first_position);
  const size_t offset = row * keys;
  float dot = 0.f;
  for (int k = lane; k < visible; k += 32) dot += to_float(weights[offset + k]) * to_float(d_weights[offset + k]);
  dot = warp_sum(dot);
  for (int k = lane; k < keys; k += 32) {
    const float g = k < visible ? scale * to_float(weights[offset + k]) * (to_float(d_weights[offset + k]) - dot) : 0.f;
    d_scores[offset + k] = from_float<T>(g);
  }
}
#define CAUSAL_SOFTMAX_BACKWARD(T) \
  (const T* weights, const T* d_weights, T* d_scores, int rows, int keys, int query_len, int first_position, float scale)
MINILM_FOR_EACH_TYPE(causal_softmax_backward, CAUSAL_SOFTMAX_BACKWARD,
                     (weights, d_weights, d_scores, rows, keys, query_len, first_position, scale))
