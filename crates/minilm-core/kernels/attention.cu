// Causal attention without the T x T probabilities, in the style of FlashAttention 2: the forward pass
// walks the keys in tiles with an online softmax and keeps one float32 log-sum-exp per query row; the
// backward pass recomputes the probabilities from it. Float32 or bfloat16 inputs, float32 arithmetic.
// The CPU twin is model/fused/attention.rs; launch shapes come from model/fused/launch.rs.
//
// Layout (model/layers.rs's split_heads): for each (batch, group) `bg`, queries are `rows` rows of D, the
// Q query heads of the group stacked (row r is a query at position first_position + r % query_len);
// keys and values are `keys` rows of D, shared by the group's heads as they are (GQA without copies).
// A query sees the keys at positions 0..=its own. Head sizes 48, 64 and 128.
//
// Work split (deterministic: no atomics, every sum in a fixed order):
//   - forward and dq: block = QUERY_TILE query rows of one bg, a warp per ROWS_PER_WARP rows; key tiles
//     of 32 go through shared memory, lane j scoring key j of the tile;
//   - dk and dv: block = KEY_TILE keys of one bg, a warp per KEYS_PER_WARP keys kept in registers (lanes
//     split the head dims); query tiles go through shared memory. Each (query, key) pair is recomputed
//     in both backward kernels rather than summing dq across key blocks with atomics.
#include "common.cuh"

#define WARPS 4
#define ROWS_PER_WARP 4
#define QUERY_TILE (WARPS * ROWS_PER_WARP)
#define KEYS_PER_WARP 4
#define KEY_TILE (WARPS * KEYS_PER_WARP)
#define KEY_CHUNK 32
// Shared memory is declared once per entry point, sized for the largest head size, and carved into tiles
// by the instantiation the head size picks: a __shared__ array inside each instantiation would count
// three times against the 48 KB a kernel may declare statically.
#define MAX_D 128
#define FORWARD_SHARED ((QUERY_TILE + 2 * KEY_CHUNK) * MAX_D)
#define QUERY_SHARED ((2 * QUERY_TILE + 2 * KEY_CHUNK) * MAX_D)
#define KEY_VALUE_SHARED (2 * QUERY_TILE * MAX_D + QUERY_TILE)

__device__ __forceinline__ int visible_keys(int row, int keys, int query_len, int first_position) {
  return min(keys, first_position + row % query_len + 1);
}

// The most keys any of rows [first, first + count) sees: how far the block's key loop must go.
__device__ __forceinline__ int block_visible(int first, int count, int rows, int keys, int query_len, int first_position) {
  int most = 0;
  for (int r = first; r < first + count && r < rows; r++) most = max(most, visible_keys(r, keys, query_len, first_position));
  return most;
}

// Rows [first, first + QUERY_TILE) of `x` (rows x D) into shared `tile`, times `scale`; zero past the end.
template <typename T, int D>
__device__ void load_rows(const T* x, float (*tile)[D], int first, int count, int rows, float scale) {
  for (int i = threadIdx.x; i < count * D; i += blockDim.x) {
    const int r = first + i / D;
    tile[i / D][i % D] = r < rows ? to_float(x[(size_t)r * D + i % D]) * scale : 0.f;
  }
}

// The dot product of shared row `a` and shared row `b`.
template <int D>
__device__ __forceinline__ float dot(const float* a, const float* b) {
  float sum = 0.f;
  for (int i = 0; i < D; i++) sum += a[i] * b[i];
  return sum;
}

template <typename T, int D>
__device__ void attention_forward(const T* q, const T* k, const T* v, T* out, float* lse, int rows, int keys, int query_len,
                                  int first_position, float scale, float* shared) {
  constexpr int PER_LANE = (D + 31) / 32;
  float(*q_tile)[D] = reinterpret_cast<float(*)[D]>(shared);
  float(*k_tile)[D] = q_tile + QUERY_TILE;
  float(*v_tile)[D] = k_tile + KEY_CHUNK;
  const size_t bg = blockIdx.y;
  q += bg * rows * D;
  out += bg * rows * D;
  lse += bg * rows;
  k += bg * keys * D;
  v += bg * keys * D;
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31, first = blockIdx.x * QUERY_TILE;
  load_rows<T, D>(q, q_tile, first, QUERY_TILE, rows, scale);

  float m[ROWS_PER_WARP], l[ROWS_PER_WARP], acc[ROWS_PER_WARP][PER_LANE];
  for (int j = 0; j < ROWS_PER_WARP; j++) {
    m[j] = -INFINITY;
    l[j] = 0.f;
    for (int p = 0; p < PER_LANE; p++) acc[j][p] = 0.f;
  }
  const int most = block_visible(first, QUERY_TILE, rows, keys, query_len, first_position);
  for (int chunk = 0; chunk < most; chunk += KEY_CHUNK) {
    __syncthreads();  // the previous chunk is consumed (and, the first time, q_tile is written)
    load_rows<T, D>(k, k_tile, chunk, KEY_CHUNK, keys, 1.f);
    load_rows<T, D>(v, v_tile, chunk, KEY_CHUNK, keys, 1.f);
    __syncthreads();
    for (int j = 0; j < ROWS_PER_WARP; j++) {
      const int local = warp * ROWS_PER_WARP + j, row = first + local;
      if (row >= rows) break;
      const int visible = visible_keys(row, keys, query_len, first_position);
      if (chunk >= visible) continue;
      const int key = chunk + lane;
      const float s = key < visible ? dot<D>(q_tile[local], k_tile[lane]) : -INFINITY;
      const float m_new = fmaxf(m[j], warp_max(s));
      const float p = key < visible ? __expf(s - m_new) : 0.f;
      const float correction = __expf(m[j] - m_new);
      l[j] = l[j] * correction + warp_sum(p);
      for (int i = 0; i < PER_LANE; i++) acc[j][i] *= correction;
      for (int kk = 0; kk < KEY_CHUNK; kk++) {
        const float pk = __shfl_sync(0xffffffff, p, kk);
        for (int i = 0; i < PER_LANE; i++) {
          const int dim = lane + 32 * i;
          if (dim < D) acc[j][i] += pk * v_tile[kk][dim];
        }
      }
      m[j] = m_new;
    }
  }
  for (int j = 0; j < ROWS_PER_WARP; j++) {
    const int row = first + warp * ROWS_PER_WARP + j;
    if (row >= rows) break;
    for (int i = 0; i < PER_LANE; i++) {
      const int dim = lane + 32 * i;
      if (dim < D) out[(size_t)row * D + dim] = from_float<T>(acc[j][i] / l[j]);
    }
    if (lane == 0) lse[row] = m[j] + logf(l[j]);
  }
}

// dq = scale * sum over visible keys of p * (dp - delta) * k, with p = exp(scale q.k - lse),
// dp = d_out.v and delta = d_out.out for the row.
template <typename T, int D>
__device__ void attention_backward_query(const T* q, const T* k, const T* v, const T* out, const float* lse, const T* d_out,
                                         T* dq, int rows, int keys, int query_len, int first_position, float scale,
                                         float* shared) {
  constexpr int PER_LANE = (D + 31) / 32;
  float(*q_tile)[D] = reinterpret_cast<float(*)[D]>(shared);
  float(*do_tile)[D] = q_tile + QUERY_TILE;
  float(*k_tile)[D] = do_tile + QUERY_TILE;
  float(*v_tile)[D] = k_tile + KEY_CHUNK;
  const size_t bg = blockIdx.y;
  q += bg * rows * D;
  out += bg * rows * D;
  d_out += bg * rows * D;
  dq += bg * rows * D;
  lse += bg * rows;
  k += bg * keys * D;
  v += bg * keys * D;
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31, first = blockIdx.x * QUERY_TILE;
  load_rows<T, D>(q, q_tile, first, QUERY_TILE, rows, scale);
  load_rows<T, D>(d_out, do_tile, first, QUERY_TILE, rows, 1.f);

  float delta[ROWS_PER_WARP], acc[ROWS_PER_WARP][PER_LANE];
  for (int j = 0; j < ROWS_PER_WARP; j++) {
    const int row = first + warp * ROWS_PER_WARP + j;
    float partial = 0.f;
    for (int i = 0; i < PER_LANE; i++) {
      const int dim = lane + 32 * i;
      if (row < rows && dim < D) partial += to_float(d_out[(size_t)row * D + dim]) * to_float(out[(size_t)row * D + dim]);
      acc[j][i] = 0.f;
    }
    delta[j] = warp_sum(partial);
  }
  const int most = block_visible(first, QUERY_TILE, rows, keys, query_len, first_position);
  for (int chunk = 0; chunk < most; chunk += KEY_CHUNK) {
    __syncthreads();
    load_rows<T, D>(k, k_tile, chunk, KEY_CHUNK, keys, 1.f);
    load_rows<T, D>(v, v_tile, chunk, KEY_CHUNK, keys, 1.f);
    __syncthreads();
    for (int j = 0; j < ROWS_PER_WARP; j++) {
      const int local = warp * ROWS_PER_WARP + j, row = first + local;
      if (row >= rows) break;
      const int visible = visible_keys(row, keys, query_len, first_position);
      if (chunk >= visible) continue;
      const int key = chunk + lane;
      float ds = 0.f;
      if (key < visible) {
        const float p = __expf(dot<D>(q_tile[local], k_tile[lane]) - lse[row]);
        ds = p * (dot<D>(do_tile[local], v_tile[lane]) - delta[j]);
      }
      for (int kk = 0; kk < KEY_CHUNK; kk++) {
        const float dsk = __shfl_sync(0xffffffff, ds, kk);
        for (int i = 0; i < PER_LANE; i++) {
          const int dim = lane + 32 * i;
          if (dim < D) acc[j][i] += dsk * k_tile[kk][dim];
        }
      }
    }
  }
  for (int j = 0; j < ROWS_PER_WARP; j++) {
    const int row = first + warp * ROWS_PER_WARP + j;
    if (row >= rows) break;
    for (int i = 0; i < PER_LANE; i++) {
      const int dim = lane + 32 * i;
      if (dim < D) dq[(size_t)row * D + dim] = from_float<T>(acc[j][i] * scale);
    }
  }
}

// dv = sum over the queries that see the key of p * d_out; dk = scale * sum of p * (dp - delta) * q.
template <typename T, int D>
__device__ void attention_backward_key_value(const T* q, const T* k, const T* v, const T* out, const float* lse,
                                             const T* d_out, T* dk, T* dv, int rows, int keys, int query_len,
                                             int first_position, float scale, float* shared) {
  constexpr int PER_LANE = (D + 31) / 32;
  float(*q_tile)[D] = reinterpret_cast<float(*)[D]>(shared);
  float(*do_tile)[D] = q_tile + QUERY_TILE;
  float* delta_tile = shared + 2 * QUERY_TILE * D;
  const size_t bg = blockIdx.y;
  q += bg * rows * D;
  out += bg * rows * D;
  d_out += bg * rows * D;
  lse += bg * rows;
  k += bg * keys * D;
  v += bg * keys * D;
  dk += bg * keys * D;
  dv += bg * keys * D;
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const int first_key = blockIdx.x * KEY_TILE + warp * KEYS_PER_WARP;

  float k_reg[KEYS_PER_WARP][PER_LANE], v_reg[KEYS_PER_WARP][PER_LANE];
  float dk_acc[KEYS_PER_WARP][PER_LANE], dv_acc[KEYS_PER_WARP][PER_LANE];
  for (int j = 0; j < KEYS_PER_WARP; j++) {
    const int key = first_key + j;
    for (int i = 0; i < PER_LANE; i++) {
      const int dim = lane + 32 * i;
      const bool here = key < keys && dim < D;
      k_reg[j][i] = here ? to_float(k[(size_t)key * D + dim]) : 0.f;
      v_reg[j][i] = here ? to_float(v[(size_t)key * D + dim]) : 0.f;
      dk_acc[j][i] = dv_acc[j][i] = 0.f;
    }
  }
  for (int tile = 0; tile < rows; tile += QUERY_TILE) {
    __syncthreads();  // the previous tile is consumed
    load_rows<T, D>(q, q_tile, tile, QUERY_TILE, rows, scale);
    load_rows<T, D>(d_out, do_tile, tile, QUERY_TILE, rows, 1.f);
    // delta for the tile's rows: warp w takes rows w, w + WARPS, ...
    for (int local = warp; local < QUERY_TILE; local += WARPS) {
      const int row = tile + local;
      float partial = 0.f;
      for (int dim = lane; dim < D; dim += 32) {
        if (row < rows) partial += to_float(d_out[(size_t)row * D + dim]) * to_float(out[(size_t)row * D + dim]);
      }
      partial = warp_sum(partial);
      if (lane == 0) delta_tile[local] = partial;
    }
    __syncthreads();
    for (int local = 0; local < QUERY_TILE; local++) {
      const int row = tile + local;
      if (row >= rows) break;
      const int visible = visible_keys(row, keys, query_len, first_position);
      if (first_key >= visible) continue;
      const float row_lse = lse[row], row_delta = delta_tile[local];
      for (int j = 0; j < KEYS_PER_WARP; j++) {
        if (first_key + j >= visible) break;
        float s = 0.f, dp = 0.f;
        for (int i = 0; i < PER_LANE; i++) {
          const int dim = lane + 32 * i;
          if (dim < D) {
            s += q_tile[local][dim] * k_reg[j][i];
            dp += do_tile[local][dim] * v_reg[j][i];
          }
        }
        const float p = __expf(warp_sum(s) - row_lse);
        const float ds = p * (warp_sum(dp) - row_delta);
        for (int i = 0; i < PER_LANE; i++) {
          const int dim = lane + 32 * i;
          if (dim < D) {
            dv_acc[j][i] += p * do_tile[local][dim];
            dk_acc[j][i] += ds * q_tile[local][dim];  // q_tile holds scale * q
          }
        }
      }
    }
  }
  for (int j = 0; j < KEYS_PER_WARP; j++) {
    const int key = first_key + j;
    if (key >= keys) break;
    for (int i = 0; i < PER_LANE; i++) {
      const int dim = lane + 32 * i;
      if (dim < D) {
        dk[(size_t)key * D + dim] = from_float<T>(dk_acc[j][i]);
        dv[(size_t)key * D + dim] = from_float<T>(dv_acc[j][i]);
      }
    }
  }
}

// The head size picks the instantiation; the launcher (model/fused/attention.rs) accepts only these.
#define BY_HEAD_SIZE(KERNEL, T, ARGS)   \
  switch (d) {                          \
    case 48: KERNEL<T, 48> ARGS; break; \
    case 64: KERNEL<T, 64> ARGS; break; \
    case 128: KERNEL<T, 128> ARGS; break; \
  }

template <typename T>
__device__ void flash_attention_forward(const T* q, const T* k, const T* v, T* out, float* lse, int rows, int keys,
                                        int query_len, int first_position, int d, float scale) {
  __shared__ float shared[FORWARD_SHARED];
  BY_HEAD_SIZE(attention_forward, T, (q, k, v, out, lse, rows, keys, query_len, first_position, scale, shared))
}
#define FLASH_ATTENTION_FORWARD(T)                                                                          \
  (const T* q, const T* k, const T* v, T* out, float* lse, int rows, int keys, int query_len, int first_position, \
   int d, float scale)
MINILM_FOR_EACH_TYPE(flash_attention_forward, FLASH_ATTENTION_FORWARD,
                     (q, k, v, out, lse, rows, keys, query_len, first_position, d, scale))

template <typename T>
__device__ void flash_attention_backward_query(const T* q, const T* k, const T* v, const T* out, const float* lse,
                                               const T* d_out, T* dq, int rows, int keys, int query_len,
                                               int first_position, int d, float scale) {
  __shared__ float shared[QUERY_SHARED];
  BY_HEAD_SIZE(attention_backward_query, T,
               (q, k, v, out, lse, d_out, dq, rows, keys, query_len, first_position, scale, shared))
}
#define FLASH_ATTENTION_BACKWARD_QUERY(T)                                                                   \
  (const T* q, const T* k, const T* v, const T* out, const float* lse, const T* d_out, T* dq, int rows, int keys, \
   int query_len, int first_position, int d, float scale)
MINILM_FOR_EACH_TYPE(flash_attention_backward_query, FLASH_ATTENTION_BACKWARD_QUERY,
                     (q, k, v, out, lse, d_out, dq, rows, keys, query_len, first_position, d, scale))

template <typename T>
__device__ void flash_attention_backward_key_value(const T* q, const T* k, const T* v, const T* out, const float* lse,
                                                   const T* d_out, T* dk, T* dv, int rows, int keys, int query_len,
                                                   int first_position, int d, float scale) {
  __shared__ float shared[KEY_VALUE_SHARED];
  BY_HEAD_SIZE(attention_backward_key_value, T,
               (q, k, v, out, lse, d_out, dk, dv, rows, keys, query_len, first_position, scale, shared))
}
#define FLASH_ATTENTION_BACKWARD_KEY_VALUE(T)                                                                     \
  (const T* q, const T* k, const T* v, const T* out, const float* lse, const T* d_out, T* dk, T* dv, int rows, int keys, \
   int query_len, int first_position, int d, float scale)
MINILM_FOR_EACH_TYPE(flash_attention_backward_key_value, FLASH_ATTENTION_BACKWARD_KEY_VALUE,
                     (q, k, v, out, lse, d_out, dk, dv, rows, keys, query_len, first_position, d, scale))
