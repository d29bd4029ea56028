// RMSNorm over rows of `cols` values: y = x * r * w with r = 1 / sqrt(mean(x^2) + eps). x, y, dx, dy
// are float32 or bfloat16; the weight and its gradient are float32; all arithmetic is float32.
// The CPU twin is model/fused/rms_norm.rs. One block per row.
#include "common.cuh"

template <typename T>
__device__ void rms_norm_forward(const T* x, const float* w, T* y, int cols, float eps) {
  __shared__ float scratch[32];
  const T* row = x + (size_t)blockIdx.x * cols;
  float squares = 0.f;
  for (int i = threadIdx.x; i < cols; i += blockDim.x) {
    float v = to_float(row[i]);
    squares += v * v;
  }
  const float r = rsqrtf(block_sum(squares, scratch) / cols + eps);
  T* out = y + (size_t)blockIdx.x * cols;
  for (int i = threadIdx.x; i < cols; i += blockDim.x) out[i] = from_float<T>(to_float(row[i]) * r * w[i]);
}
#define RMS_NORM_FORWARD(T) (const T* x, const float* w, T* y, int cols, float eps)
MINILM_FOR_EACH_TYPE(rms_norm_forward, RMS_NORM_FORWARD, (x, w, y, cols, eps))

// The residual add fused in: sum = x + delta (stored in T, as the unfused add would round it), then
// y = rms_norm(sum), reading the stored sum so that the backward pass sees the same values.
template <typename T>
__device__ void rms_norm_residual_forward(const T* x, const T* delta, const float* w, T* sum, T* y, int cols, float eps) {
  __shared__ float scratch[32];
  const size_t offset = (size_t)blockIdx.x * cols;
  float squares = 0.f;
  for (int i = threadIdx.x; i < cols; i += blockDim.x) {
    const T v = from_float<T>(to_float(x[offset + i]) + to_float(delta[offset + i]));
    sum[offset + i] = v;
    squares += to_float(v) * to_float(v);
  }
  const float r = rsqrtf(block_sum(squares, scratch) / cols + eps);
  for (int i = threadIdx.x; i < cols; i += blockDim.x) y[offset + i] = from_float<T>(to_float(sum[offset + i]) * r * w[i]);
}
#define RMS_NORM_RESIDUAL_FORWARD(T) (const T* x, const T* delta, const float* w, T* sum, T* y, int cols, float eps)
MINILM_FOR_EACH_TYPE(rms_norm_residual_forward, RMS_NORM_RESIDUAL_FORWARD, (x, delta, w, sum, y, cols, eps))

// dx = r * g - x * r^3 * mean(g * x) with g = dy * w, plus d_residual when given (the gradient that
// reaches x through the residual path: the residual add's backward fused in); also keeps r per row for
// the weight's gradient.
template <typename T>
__device__ void rms_norm_backward_input(const T* x, const float* w, const T* dy, const T* d_residual, T* dx,
                                        float* inverse_rms, int cols, float eps) {
  __shared__ float scratch[32];
  const size_t offset = (size_t)blockIdx.x * cols;
  float squares = 0.f, gx = 0.f;
  for (int i = threadIdx.x; i < cols; i += blockDim.x) {
    float v = to_float(x[offset + i]);
    squares += v * v;
    gx += to_float(dy[offset + i]) * w[i] * v;
  }
  const float r = rsqrtf(block_sum(squares, scratch) / cols + eps);
  const float correction = r * r * r * (block_sum(gx, scratch) / cols);
  for (int i = threadIdx.x; i < cols; i += blockDim.x) {
    float v = to_float(x[offset + i]);
    const float residual = d_residual == nullptr ? 0.f : to_float(d_residual[offset + i]);
    dx[offset + i] = from_float<T>(r * to_float(dy[offset + i]) * w[i] - v * correction + residual);
  }
  if (threadIdx.x == 0) inverse_rms[blockIdx.x] = r;
}
#define RMS_NORM_BACKWARD_INPUT(T) \
  (const T* x, const float* w, const T* dy, const T* d_residual, T* dx, float* inverse_rms, int cols, float eps)
MINILM_FOR_EACH_TYPE(rms_norm_backward_input, RMS_NORM_BACKWARD_INPUT, (x, w, dy, d_residual, dx, inverse_rms, cols, eps))

// dw = sum over rows of dy * x * r, in two deterministic passes: block (column tile, chunk) sums its chunk
// of rows in row order into partial[chunk][col]; then each column sums the chunks in order. A thread per
// column over all rows would leave most of the GPU idle (40,960 rows at the reference shape).
template <typename T>
__device__ void rms_norm_backward_weight_partial(const T* x, const T* dy, const float* inverse_rms, float* partial,
                                                 int rows, int cols, int rows_per_chunk) {
  const int col = blockIdx.x * blockDim.x + threadIdx.x;
  if (col >= cols) return;
  const int first = blockIdx.y * rows_per_chunk, last = min(rows, first + rows_per_chunk);
  float sum = 0.f;
  for (int row = first; row < last; row++) {
    const size_t i = (size_t)row * cols + col;
    sum += to_float(dy[i]) * to_float(x[i]) * inverse_rms[row];
  }
  partial[(size_t)blockIdx.y * cols + col] = sum;
}
#define RMS_NORM_BACKWARD_WEIGHT_PARTIAL(T) \
  (const T* x, const T* dy, const float* inverse_rms, float* partial, int rows, int cols, int rows_per_chunk)
MINILM_FOR_EACH_TYPE(rms_norm_backward_weight_partial, RMS_NORM_BACKWARD_WEIGHT_PARTIAL,
                     (x, dy, inverse_rms, partial, rows, cols, rows_per_chunk))

extern "C" __global__ void sum_chunks(const float* partial, float* out, int chunks, int cols) {
  const int col = blockIdx.x * blockDim.x + threadIdx.x;
  if (col >= cols) return;
  float sum = 0.f;
  for (int chunk = 0; chunk < chunks; chunk++) sum += partial[(size_t)chunk * cols + col];
  out[col] = sum;
}
