// Attention on the GPU: scaled dot-product attention (no mask, no dropout)
// and Flux's interleaved rotary embedding.
//
// sdpa, first step: with cuBLASLt, S = scale * Q K^T (float32) for a chunk of
// heads as one strided-batched GEMM, a row softmax into P (q/k/v dtype, as
// PyTorch's math path rounds it), then O = P V as a second batched GEMM. The
// chunk keeps the score workspace under 1 GiB. Without cuBLASLt, one block per
// query row computes the scores into shared memory (lk <= ~50K keys) and the
// output directly. A fused flash kernel is the next step (README.md).
#include "lt_gemm.cuh"
#include "cublaslt_api.h"
#include "../float_ops.h"

namespace vl {
namespace cu {
namespace {

constexpr int kThreads = 256;

__device__ float block_reduce_max(float v, float* sh) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  __syncthreads();
  if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
  __syncthreads();
  float t = sh[0];
  for (int w = 1; w < kThreads / 32; w++) t = fmaxf(t, sh[w]);
  return t;
}
__device__ float block_reduce_sum(float v, float* sh) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads();
  if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
  __syncthreads();
  float t = 0;
  for (int w = 0; w < kThreads / 32; w++) t += sh[w];
  return t;
}

// Row softmax of float32 scores into P (dtype pd), rows of length lk.
__global__ void softmax_rows_kernel(const float* s, void* p, DType pd, size_t lk) {
  __shared__ float sh[kThreads / 32];
  size_t base = blockIdx.x * lk;
  float m = -INFINITY;
  for (size_t j = threadIdx.x; j < lk; j += kThreads) m = fmaxf(m, s[base + j]);
  m = block_reduce_max(m, sh);
  float sum = 0;
  for (size_t j = threadIdx.x; j < lk; j += kThreads) sum += expf(s[base + j] - m);
  float inv = 1.0f / block_reduce_sum(sum, sh);
  for (size_t j = threadIdx.x; j < lk; j += kThreads) hd::store_act(p, pd, base + j, expf(s[base + j] - m) * inv);
}

// Fallback: one block per (batch*head, query); scores in dynamic shared memory.
__global__ void sdpa_row_kernel(void* out, DType od, const void* q, const void* k, const void* v, DType d, size_t lq, size_t lk, size_t hd_,
                                float scale) {
  extern __shared__ float scores[];
  __shared__ float sh[kThreads / 32];
  size_t bh = blockIdx.x / lq, i = blockIdx.x % lq;
  size_t qbase = (bh * lq + i) * hd_, kbase = bh * lk * hd_;
  float m = -INFINITY;
  for (size_t j = threadIdx.x; j < lk; j += kThreads) {
    float acc = 0;
    for (size_t c = 0; c < hd_; c++) acc = __fmaf_rn(hd::load_act(q, d, qbase + c), hd::load_act(k, d, kbase + j * hd_ + c), acc);
    acc *= scale;
    scores[j] = acc;
    m = fmaxf(m, acc);
  }
  m = block_reduce_max(m, sh);
  float sum = 0;
  for (size_t j = threadIdx.x; j < lk; j += kThreads) {
    float e = expf(scores[j] - m);
    scores[j] = e;
    sum += e;
  }
  float inv = 1.0f / block_reduce_sum(sum, sh);
  __syncthreads();
  for (size_t c = threadIdx.x; c < hd_; c += kThreads) {
    float acc = 0;
    for (size_t j = 0; j < lk; j++) acc = __fmaf_rn(scores[j], hd::load_act(v, d, kbase + j * hd_ + c), acc);
    hd::store_act(out, od, qbase + c, acc * inv);
  }
}

__global__ void rope_kernel(void* out, DType od, const void* x, DType xd, const float* cos, const float* sin, size_t seq, size_t dim, size_t pairs) {
  VL_GRID_STRIDE(p, pairs) {
    size_t e = p * 2, row = e / dim, c = e % dim, s = row % seq;
    float re = hd::load_act(x, xd, e), im = hd::load_act(x, xd, e + 1);
    const float* cs = cos + s * dim + c;
    const float* sn = sin + s * dim + c;
    float a0 = __fmul_rn(re, cs[0]), b0 = __fmul_rn(-im, sn[0]);
    float a1 = __fmul_rn(im, cs[1]), b1 = __fmul_rn(re, sn[1]);
    hd::store_act(out, od, e, __fadd_rn(a0, b0));
    hd::store_act(out, od, e + 1, __fadd_rn(a1, b1));
  }
}

// cudaSdpa(out, outDtype, q, k, v, qkvDtype, batch, heads, lq, lk, headDim, scale, stream)
Napi::Value Sdpa(const Napi::CallbackInfo& info) {
  DType od = arg_float_dtype(info, 1, "outDtype"), d = arg_float_dtype(info, 5, "qkvDtype");
  size_t batch = arg_size(info, 6, "batch"), heads = arg_size(info, 7, "heads"), lq = arg_size(info, 8, "lq"), lk = arg_size(info, 9, "lk"), hdim = arg_size(info, 10, "headDim");
  float scale = static_cast<float>(arg_num(info, 11, "scale"));
  size_t bh = mul_checked(batch, heads, "batch*heads");
  void* out = dev_checked(info[0], od, 0, bh * lq * hdim, "cudaSdpa: out");
  const uint8_t* q = dev_checked(info[2], d, 0, bh * lq * hdim, "cudaSdpa: q");
  const uint8_t* k = dev_checked(info[3], d, 0, bh * lk * hdim, "cudaSdpa: k");
  const uint8_t* v = dev_checked(info[4], d, 0, bh * lk * hdim, "cudaSdpa: v");
  if (out == k || out == v) throw std::invalid_argument("cudaSdpa: out may be q itself, not k or v");
  cudaStream_t st = arg_stream(info, 12);
  if (bh * lq * hdim == 0) return info.Env().Undefined();
  const size_t eb = hd::bits_of(d) / 8;
  if (lk > 0 && lt_available() && lt_type(d) >= 0 && lt_type(od) >= 0) {  // out == q is safe: a chunk reads its q rows before writing them
    size_t per_head = lq * lk;
    size_t chunk = std::max<size_t>(1, (size_t(1) << 30) / (per_head * (4 + eb)));
    if (chunk > bh) chunk = bh;
    Workspace scores(chunk * per_head * 4, st), probs(chunk * per_head * eb, st);
    bool ok = true;
    for (size_t h0 = 0; h0 < bh && ok; h0 += chunk) {
      size_t n = std::min(chunk, bh - h0);
      RowMajorGemm s;  // S[lq, lk] = Q[lq, d] K[lk, d]^T
      s.m = lq; s.n = lk; s.k = hdim; s.batch = static_cast<int>(n);
      s.a = q + h0 * lq * hdim * eb; s.a_type = lt_type(d); s.lda = hdim; s.stride_a = lq * hdim;
      s.b = k + h0 * lk * hdim * eb; s.b_type = lt_type(d); s.ldb = hdim; s.stride_b = lk * hdim; s.trans_b = true;
      s.d = scores.get(); s.d_type = lt::R_32F; s.ldd = lk; s.stride_d = per_head;
      s.alpha = scale;
      if (!lt_gemm(s, st)) { ok = false; break; }
      softmax_rows_kernel<<<static_cast<unsigned>(n * lq), kThreads, 0, st>>>(static_cast<float*>(scores.get()), probs.get(), d, lk);
      check_launch("cudaSdpa softmax");
      RowMajorGemm o;  // O[lq, d] = P[lq, lk] V[lk, d]
      o.m = lq; o.n = hdim; o.k = lk; o.batch = static_cast<int>(n);
      o.a = probs.get(); o.a_type = lt_type(d); o.lda = lk; o.stride_a = per_head;
      o.b = v + h0 * lk * hdim * eb; o.b_type = lt_type(d); o.ldb = hdim; o.stride_b = lk * hdim; o.trans_b = false;
      o.d = static_cast<uint8_t*>(out) + h0 * lq * hdim * (hd::bits_of(od) / 8); o.d_type = lt_type(od); o.ldd = hdim; o.stride_d = lq * hdim;
      if (!lt_gemm(o, st)) throw std::runtime_error("cudaSdpa: cuBLASLt found no algorithm for P @ V after Q @ K^T ran");
    }
    if (ok) return info.Env().Undefined();
  }
  size_t smem = lk * sizeof(float);
  if (smem > 48 * 1024) check(cudaFuncSetAttribute(sdpa_row_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)), "cudaSdpa: shared memory for lk keys");
  if (bh * lq > 0x7fffffffu) throw std::out_of_range("cudaSdpa: too many query rows");
  sdpa_row_kernel<<<static_cast<unsigned>(bh * lq), kThreads, smem, st>>>(out, od, q, k, v, d, lq, lk, hdim, scale);
  check_launch("cudaSdpa");
  return info.Env().Undefined();
}

// cudaRope(out, outDtype, x, xDtype, cos, sin, batch, heads, seq, headDim, stream)
Napi::Value Rope(const Napi::CallbackInfo& info) {
  DType od = arg_float_dtype(info, 1, "outDtype"), xd = arg_float_dtype(info, 3, "xDtype");
  size_t batch = arg_size(info, 6, "batch"), heads = arg_size(info, 7, "heads"), seq = arg_size(info, 8, "seq"), dim = arg_size(info, 9, "headDim");
  if (dim % 2) throw std::invalid_argument("cudaRope: headDim must be even, got " + std::to_string(dim));
  size_t numel = mul_checked(mul_checked(mul_checked(batch, heads, "x size"), seq, "x size"), dim, "x size");
  void* out = dev_checked(info[0], od, 0, numel, "cudaRope: out");
  const void* x = dev_checked(info[2], xd, 0, numel, "cudaRope: x");
  const float* cos = reinterpret_cast<const float*>(dev_checked(info[4], DType::float32, 0, seq * dim, "cudaRope: cos"));
  const float* sin = reinterpret_cast<const float*>(dev_checked(info[5], DType::float32, 0, seq * dim, "cudaRope: sin"));
  cudaStream_t st = arg_stream(info, 10);
  if (!numel) return info.Env().Undefined();
  rope_kernel<<<grid_for(numel / 2, 256), 256, 0, st>>>(out, od, x, xd, cos, sin, seq, dim, numel / 2);
  check_launch("cudaRope");
  return info.Env().Undefined();
}

void Register(Napi::Env env, Napi::Object exports) {
  VL_EXPORT("cudaSdpa", Sdpa);
  VL_EXPORT("cudaRope", Rope);
}
VL_REGISTER(Register);

}  // namespace
}  // namespace cu
}  // namespace vl
