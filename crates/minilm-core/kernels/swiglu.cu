// LLaMAMLP's gate y = silu(a) * b and its gradients, element by element in float32. The CPU twin is
// model/fused/swiglu.rs.
#include "common.cuh"

__device__ __forceinline__ float sigmoid(float v) { return 1.f / (1.f + __expf(-v)); }

template <typename T>
__device__ void swiglu_forward(const T* a, const T* b, T* y, size_t n) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    const float va = to_float(a[i]);
    y[i] = from_float<T>(va * sigmoid(va) * to_float(b[i]));
  }
}
#define SWIGLU_FORWARD(T) (const T* a, const T* b, T* y, size_t n)
MINILM_FOR_EACH_TYPE(swiglu_forward, SWIGLU_FORWARD, (a, b, y, n))

// da = dy * b * sigmoid(a) * (1 + a * (1 - sigmoid(a))), db = dy * silu(a), in one pass.
template <typename T>
__device__ void swiglu_backward(const T* a, const T* b, const T* dy, T* da, T* db, size_t n) {
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    const float va = to_float(a[i]), g = to_float(dy[i]), s = sigmoid(va);
    da[i] = from_float<T>(g * to_float(b[i]) * s * (1.f + va * (1.f - s)));
    db[i] = from_float<T>(g * va * s);
  }
}
#define SWIGLU_BACKWARD(T) (const T* a, const T* b, const T* dy, T* da, T* db, size_t n)
MINILM_FOR_EACH_TYPE(swiglu_backward, SWIGLU_BACKWARD, (a, b, dy, da, db, n))
