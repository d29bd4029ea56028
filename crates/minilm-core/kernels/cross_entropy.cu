// The classifier's loss: per row of `vocab` logits, loss = log(sum(exp(x))) - x[target], and for training
// dlogits = factor * (softmax(x) - onehot(target)) written in the same pass, so probabilities are never
// stored. Float32 arithmetic over float32 or bfloat16 logits. A target outside the vocabulary gives a
// NaN loss rather than a read out of bounds. The CPU twin is model/fused/cross_entropy.rs. One block
// per row.
#include "common.cuh"

template <typename T>
__device__ void cross_entropy(const T* logits, const uint32_t* targets, float* losses, T* d_logits, int vocab,
                              float factor) {
  __shared__ float scratch[32];
  const size_t offset = (size_t)blockIdx.x * vocab;
  const T* x = logits + offset;
  float max = -INFINITY;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) max = fmaxf(max, to_float(x[i]));
  max = block_max(max, scratch);
  float sum = 0.f;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) sum += __expf(to_float(x[i]) - max);
  sum = block_sum(sum, scratch);
  const uint32_t target = targets[blockIdx.x];
  const bool valid = target < (uint32_t)vocab;
  if (threadIdx.x == 0) losses[blockIdx.x] = valid ? max + logf(sum) - to_float(x[target]) : NAN;
  if (d_logits == nullptr) return;
  const float scale = factor / sum;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
    float g = __expf(to_float(x[i]) - max) * scale;
    if (i == (int)target) g -= factor;
    d_logits[offset + i] = from_float<T>(valid ? g : NAN);
  }
}
#define CROSS_ENTROPY(T) (const T* logits, const uint32_t* targets, float* losses, T* d_logits, int vocab, float factor)
MINILM_FOR_EACH_TYPE(cross_entropy, CROSS_ENTROPY, (logits, targets, losses, d_logits, vocab, factor))

// out[0] = the mean of n values, summed in float64 in an order that depends only on n (one block).
extern "C" __global__ void mean(const float* values, float* out, int n) {
  __shared__ double partial[1024];
  double sum = 0.0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) sum += values[i];
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[0] = (float)(partial[0] / n);
}
