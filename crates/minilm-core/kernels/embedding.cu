// The token embedding's gradient, deterministically: d_table[v] = the sum of dx over the positions whose
// token is v, in position order. The host buckets the positions by token (a counting sort: `order` holds
// positions grouped by token, token v's from bucket_start[v] to bucket_start[v + 1]), as llm.c's
// encoder_backward does; no atomics, so every run gives the same bits. Block (token, column tile); every
// element of d_table is written, zero for tokens absent from the batch.
#include "common.cuh"

template <typename T>
__device__ void embedding_backward(const T* dx, const uint32_t* order, const uint32_t* bucket_start, float* d_table,
                                   int cols) {
  const int col = blockIdx.y * blockDim.x + threadIdx.x;
  if (col >= cols) return;
  const int token = blockIdx.x;
  float sum = 0.f;
  for (uint32_t i = bucket_start[token]; i < bucket_start[token + 1]; i++) sum += to_float(dx[(size_t)order[i] * cols + col]);
  d_table[(size_t)token * cols + col] = sum;
}
#define EMBEDDING_BACKWARD(T) (const T* dx, const uint32_t* order, const uint32_t* bucket_start, float* d_table, int cols)
MINILM_FOR_EACH_TYPE(embedding_backward, EMBEDDING_BACKWARD, (dx, order, bucket_start, d_table, cols))
