// The optimizer's kernels over float32 buffers: AdamW's update in one pass (torch.optim.AdamW's
// arithmetic, as train/adamw_cpu.rs computes it), sums of squares for the global gradient norm in a
// fixed order, and adding a micro-batch's gradient into the flat gradient.
#include "common.cuh"

extern "C" __global__ void adamw(float* w, const float* g, float* m, float* v, size_t n, float beta1, float beta2,
                                 float decay, float step_size, float bias_correction2_sqrt, float eps) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    const float grad = g[i];
    const float mi = m[i] * beta1 + grad * (1.f - beta1);
    const float vi = v[i] * beta2 + grad * grad * (1.f - beta2);
    m[i] = mi;
    v[i] = vi;
    w[i] = w[i] * decay - mi / (sqrtf(vi) / bias_correction2_sqrt + eps) * step_size;
  }
}

// partial[blockIdx.x] = the sum of squares of this block's share of x (a grid-stride loop, so the share
// depends only on the grid, which the caller fixes).
template <typename T>
__device__ void sum_squares(const T* x, size_t n, float* partial) {
  __shared__ float scratch[32];
  float sum = 0.f;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    const float v = to_float(x[i]);
    sum += v * v;
  }
  sum = block_sum(sum, scratch);
  if (threadIdx.x == 0) partial[blockIdx.x] = sum;
}
#define SUM_SQUARES(T) (const T* x, size_t n, float* partial)
MINILM_FOR_EACH_TYPE(sum_squares, SUM_SQUARES, (x, n, partial))

// out[0] = sqrt of the sum of n partial sums, added in float64 in index order.
extern "C" __global__ void root_of_sum(const float* partial, int n, float* out) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  double sum = 0.0;
  for (int i = 0; i < n; i++) sum += partial[i];
  out[0] = (float)sqrt(sum);
}

// Fills n bytes with 0xFF, a NaN in float32 and bfloat16: the kernel checks poison outputs with it so
// that an element a kernel never writes shows up.
extern "C" __global__ void poison(uint8_t* p, size_t n) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) p[i] = 0xFF;
}

// sum[i] += x[i] over n elements in float32: micro-batches' gradients added into the flat gradient in
// place (a bfloat16 gradient is widened on the way, so it needs no float32 copy first).
template <typename T>
__device__ void accumulate(float* sum, const T* x, size_t n) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) sum[i] += to_float(x[i]);
}
#define ACCUMULATE(T) (float* sum, const T* x, size_t n)
MINILM_FOR_EACH_TYPE(accumulate, ACCUMULATE, (sum, x, n))
