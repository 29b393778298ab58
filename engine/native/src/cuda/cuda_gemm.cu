// GEMMs on the GPU: float matmul, int8 x int8 -> int32, fp8 e4m3 x e4m3 with
// per-row / per-tensor scales, and matmul with a quantized weight (dequantized
// into a reused workspace of the activation dtype, then a dense GEMM).
// cuBLASLt (loaded at run time) runs the products when present; the tiled
// kernels below run them otherwise. Epilogues (row / column scales, bias)
// follow the cpu kernels: v = acc; v *= rowScale[m]; v *= colScale[n];
// v += bias[n]; each float32 step rounded once, then v is stored to outDtype.
#include <memory>
#include <mutex>
#include <vector>
#include "cublaslt_api.h"
#include "lt_gemm.cuh"
#include "../float_ops.h"

namespace vl {
namespace cu {

// ---- cuBLASLt -----------------------------------------------------------------------
namespace {
struct LtContext {
  lt::Handle handle = nullptr;
  void* workspace = nullptr;
  size_t workspace_size = 0;
};
constexpr size_t kLtWorkspace = 32u << 20;

LtContext* lt_context() {
  static std::vector<std::unique_ptr<LtContext>> contexts;
  const lt::LoadResult& lib = lt::shared();
  if (!lib.api) return nullptr;
  int dev = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  if (static_cast<size_t>(dev) >= contexts.size()) contexts.resize(dev + 1);
  if (!contexts[dev]) {
    auto c = std::make_unique<LtContext>();
    if (lib.api->create(&c->handle) != 0) throw std::runtime_error("cublasLtCreate failed (cuBLASLt at " + lib.api->path + ")");
    check(cudaMalloc(&c->workspace, kLtWorkspace), "cudaMalloc (cuBLASLt workspace)");
    c->workspace_size = kLtWorkspace;
    contexts[dev] = std::move(c);
  }
  return contexts[dev].get();
}

struct LtResources {
  const lt::Api* api;
  lt::MatmulDesc desc = nullptr;
  lt::MatrixLayout la = nullptr, lb = nullptr, ld = nullptr;
  lt::Preference pref = nullptr;
  ~LtResources() {
    if (pref) api->preferenceDestroy(pref);
    if (la) api->matrixLayoutDestroy(la);
    if (lb) api->matrixLayoutDestroy(lb);
    if (ld) api->matrixLayoutDestroy(ld);
    if (desc) api->matmulDescDestroy(desc);
  }
};
}  // namespace

bool lt_available(std::string* why) {
  const lt::LoadResult& lib = lt::shared();
  if (!lib.api && why) *why = lib.error;
  return lib.api != nullptr;
}
int lt_type(DType d) {
  switch (d) {
    case DType::float32: return lt::R_32F;
    case DType::float16: return lt::R_16F;
    case DType::bfloat16: return lt::R_16BF;
    case DType::float8_e4m3fn: return lt::R_8F_E4M3;
    case DType::int8: return lt::R_8I;
    case DType::int32: return lt::R_32I;
    default: return -1;
  }
}

// Row-major D = A @ op(B) is column-major D^T = op(B)^T-as-stored @ A^T: cuBLASLt's "A" is our
// B and its "B" is our A, with m and n swapped.
bool lt_gemm(const RowMajorGemm& g, cudaStream_t stream) {
  LtContext* ctx = lt_context();
  if (!ctx) return false;
  LtResources r{&*lt::shared().api};
  const lt::Api& api = *r.api;
  // int32 accumulation into int32 D takes int32 alpha/beta (scale type R_32I); everything else float32.
  const bool int_scale = g.compute == lt::COMPUTE_32I && g.d_type == lt::R_32I;
  if (api.matmulDescCreate(&r.desc, g.compute, int_scale ? lt::R_32I : lt::R_32F) != 0) return false;
  int32_t ta = g.trans_b ? lt::OP_T : lt::OP_N, tb = lt::OP_N;
  api.matmulDescSetAttribute(r.desc, lt::DESC_TRANSA, &ta, sizeof(ta));
  api.matmulDescSetAttribute(r.desc, lt::DESC_TRANSB, &tb, sizeof(tb));
  if (g.bias) {
    uint32_t epi = lt::EPILOGUE_BIAS;
    api.matmulDescSetAttribute(r.desc, lt::DESC_EPILOGUE, &epi, sizeof(epi));
    api.matmulDescSetAttribute(r.desc, lt::DESC_BIAS_POINTER, &g.bias, sizeof(g.bias));
  }
  // our B: [n, k] row-major = column-major k x n (ld ldb), transposed; or [k, n] = column-major n x k.
  if (g.trans_b ? api.matrixLayoutCreate(&r.la, g.b_type, g.k, g.n, g.ldb) : api.matrixLayoutCreate(&r.la, g.b_type, g.n, g.k, g.ldb)) return false;
  if (api.matrixLayoutCreate(&r.lb, g.a_type, g.k, g.m, g.lda) != 0) return false;
  if (api.matrixLayoutCreate(&r.ld, g.d_type, g.n, g.m, g.ldd) != 0) return false;
  if (g.batch > 1) {
    int32_t count = g.batch;
    for (auto [layout, stride] : {std::pair<lt::MatrixLayout, int64_t>{r.la, g.stride_b}, {r.lb, g.stride_a}, {r.ld, g.stride_d}}) {
      api.matrixLayoutSetAttribute(layout, lt::LAYOUT_BATCH_COUNT, &count, sizeof(count));
      api.matrixLayoutSetAttribute(layout, lt::LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride));
    }
  }
  if (api.preferenceCreate(&r.pref) != 0) return false;
  uint64_t ws = ctx->workspace_size;
  api.preferenceSetAttribute(r.pref, lt::PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
  lt::HeuristicResult heur{};
  int returned = 0;
  if (api.algoGetHeuristic(ctx->handle, r.desc, r.la, r.lb, r.ld, r.ld, r.pref, 1, &heur, &returned) != 0 || returned == 0) return false;
  float beta = 0.0f;
  int32_t alpha_i = 1, beta_i = 0;
  const void* alpha = int_scale ? static_cast<const void*>(&alpha_i) : static_cast<const void*>(&g.alpha);
  const void* betap = int_scale ? static_cast<const void*>(&beta_i) : static_cast<const void*>(&beta);
  lt::Status s = api.matmul(ctx->handle, r.desc, alpha, g.b, r.la, g.a, r.lb, betap, g.d, r.ld, g.d, r.ld, &heur.algo,
                            ctx->workspace, ctx->workspace_size, stream);
  if (s != 0) throw std::runtime_error("cublasLtMatmul failed with status " + std::to_string(s));
  return true;
}

namespace {

// ---- fallback kernels ------------------------------------------------------------------
constexpr int kTile = 64, kKTile = 16, kThreadTile = 4;  // 16 x 16 threads, 4 x 4 outputs each

// acc[m, n] = sum_k A[m, k] * B(n, k) in float32; A and B float activations; out float32.
__global__ void gemm_f32acc_kernel(const void* A, DType ad, const void* B, DType bd, bool trans_b, float* C, int64_t M, int64_t N, int64_t K) {
  __shared__ float as[kKTile][kTile + 1], bs[kKTile][kTile + 1];
  int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  int64_t m0 = blockIdx.y * (int64_t)kTile, n0 = blockIdx.x * (int64_t)kTile;
  float acc[kThreadTile][kThreadTile] = {};
  for (int64_t k0 = 0; k0 < K; k0 += kKTile) {
    for (int i = threadIdx.x; i < kKTile * kTile; i += 256) {
      int kk = i % kKTile, r = i / kKTile;
      int64_t m = m0 + r, n = n0 + r, k = k0 + kk;
      as[kk][r] = (m < M && k < K) ? hd::load_act(A, ad, m * K + k) : 0.0f;
      bs[kk][r] = (n < N && k < K) ? hd::load_act(B, bd, trans_b ? n * K + k : k * N + n) : 0.0f;
    }
    __syncthreads();
    for (int kk = 0; kk < kKTile; kk++)
      for (int i = 0; i < kThreadTile; i++)
        for (int j = 0; j < kThreadTile; j++) acc[i][j] = __fmaf_rn(as[kk][ty * kThreadTile + i], bs[kk][tx * kThreadTile + j], acc[i][j]);
    __syncthreads();
  }
  for (int i = 0; i < kThreadTile; i++)
    for (int j = 0; j < kThreadTile; j++) {
      int64_t m = m0 + ty * kThreadTile + i, n = n0 + tx * kThreadTile + j;
      if (m < M && n < N) C[m * N + n] = acc[i][j];
    }
}
// acc[m, n] = sum_k A[m, k] * B[n, k] on int8 codes, int32 accumulation (exact).
__global__ void gemm_i8_kernel(const int8_t* A, const int8_t* B, int32_t* C, int64_t M, int64_t N, int64_t K) {
  __shared__ int32_t as[kKTile][kTile + 1], bs[kKTile][kTile + 1];
  int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  int64_t m0 = blockIdx.y * (int64_t)kTile, n0 = blockIdx.x * (int64_t)kTile;
  int32_t acc[kThreadTile][kThreadTile] = {};
  for (int64_t k0 = 0; k0 < K; k0 += kKTile) {
    for (int i = threadIdx.x; i < kKTile * kTile; i += 256) {
      int kk = i % kKTile, r = i / kKTile;
      int64_t m = m0 + r, n = n0 + r, k = k0 + kk;
      as[kk][r] = (m < M && k < K) ? A[m * K + k] : 0;
      bs[kk][r] = (n < N && k < K) ? B[n * K + k] : 0;
    }
    __syncthreads();
    for (int kk = 0; kk < kKTile; kk++)
      for (int i = 0; i < kThreadTile; i++)
        for (int j = 0; j < kThreadTile; j++) acc[i][j] += as[kk][ty * kThreadTile + i] * bs[kk][tx * kThreadTile + j];
    __syncthreads();
  }
  for (int i = 0; i < kThreadTile; i++)
    for (int j = 0; j < kThreadTile; j++) {
      int64_t m = m0 + ty * kThreadTile + i, n = n0 + tx * kThreadTile + j;
      if (m < M && n < N) C[m * N + n] = acc[i][j];
    }
}
dim3 tiles(int64_t M, int64_t N) { return dim3(static_cast<unsigned>((N + kTile - 1) / kTile), static_cast<unsigned>((M + kTile - 1) / kTile)); }

// out[m, n] = store(((acc * rowScale[m]) * colScale[n * colStride]) + bias[n]), steps optional.
template <typename Acc>
__global__ void epilogue_kernel(const Acc* acc, void* out, DType od, const float* row_scale, bool row_scale_shared, const float* col_scale,
                                size_t col_stride, const void* bias, DType bias_d, int64_t M, int64_t N) {
  VL_GRID_STRIDE(i, static_cast<size_t>(M * N)) {
    int64_t m = i / N, n = i % N;
    float v = static_cast<float>(acc[i]);
    if (row_scale) v = __fmul_rn(v, row_scale[row_scale_shared ? 0 : m]);
    if (col_scale) v = __fmul_rn(v, col_scale[n * col_stride]);
    if (bias) v = __fadd_rn(v, hd::load_act(bias, bias_d, n));
    hd::store_act(out, od, i, v);
  }
}

// B [n, k] as float activations (dtype wd) from a quantized weight.
__global__ void dequant_rows_kernel(const uint8_t* q, DType qd, const float* scale, const float* zero, size_t K, size_t group, size_t srs,
                                    void* out, DType od, size_t numel) {
  VL_GRID_STRIDE(e, numel) {
    size_t row = e / K, s = row * srs + (e % K) / group;
    float v = qd == DType::int8 ? static_cast<float>(static_cast<int8_t>(q[e])) : hd::decode_float(qd, hd::load_code(q, qd, e));
    v = __fmul_rn(v, scale[s]);
    if (zero) v = __fadd_rn(v, zero[s]);
    hd::store_act(out, od, e, v);
  }
}

const void* opt_dev(const Napi::Value& v, DType d, size_t n, const char* what) {
  return is_nullish(v) ? nullptr : dev_checked(v, d, 0, n, what);
}

// Float GEMM into out with bias, through cuBLASLt when possible: fp32 accumulate, one rounding.
void float_gemm(void* out, DType od, const void* a, DType ad, const void* b, DType bd, bool trans_b, const void* bias, DType bias_d,
                int64_t M, int64_t N, int64_t K, const float* row_scale, cudaStream_t st) {
  if (!row_scale && ad == bd && (bias == nullptr || bias_d == od) && lt_type(ad) >= 0 && lt_type(od) >= 0) {
    RowMajorGemm g;
    g.m = M; g.n = N; g.k = K;
    g.a = a; g.a_type = lt_type(ad); g.lda = K;
    g.b = b; g.b_type = lt_type(bd); g.ldb = trans_b ? K : N; g.trans_b = trans_b;
    g.d = out; g.d_type = lt_type(od); g.ldd = N;
    g.bias = bias;
    if (lt_gemm(g, st)) return;
  }
  // float32 accumulator in a workspace, then the epilogue rounds once
  Workspace acc(static_cast<size_t>(M * N) * 4, st);
  bool lt_done = false;
  if (ad == bd && lt_type(ad) >= 0) {
    RowMajorGemm g;
    g.m = M; g.n = N; g.k = K;
    g.a = a; g.a_type = lt_type(ad); g.lda = K;
    g.b = b; g.b_type = lt_type(bd); g.ldb = trans_b ? K : N; g.trans_b = trans_b;
    g.d = acc.get(); g.d_type = lt::R_32F; g.ldd = N;
    lt_done = lt_gemm(g, st);
  }
  if (!lt_done) gemm_f32acc_kernel<<<tiles(M, N), 256, 0, st>>>(a, ad, b, bd, trans_b, static_cast<float*>(acc.get()), M, N, K);
  epilogue_kernel<float><<<grid_for(static_cast<size_t>(M * N), 256), 256, 0, st>>>(static_cast<float*>(acc.get()), out, od, row_scale, false,
                                                                                    nullptr, 0, bias, bias_d, M, N);
  check_launch("cuda gemm");
}

// cudaMatmul(out, outDtype, a, aDtype, b, bDtype, bias|null, biasDtype, M, N, K, transB, stream)
Napi::Value Matmul(const Napi::CallbackInfo& info) {
  DType od = arg_float_dtype(info, 1, "outDtype"), ad = arg_float_dtype(info, 3, "aDtype"), bd = arg_float_dtype(info, 5, "bDtype");
  DType biasd = is_nullish(info[6]) ? DType::float32 : arg_float_dtype(info, 7, "biasDtype");
  int64_t M = arg_size(info, 8, "M"), N = arg_size(info, 9, "N"), K = arg_size(info, 10, "K");
  bool trans_b = arg_bool(info, 11, "transB");
  void* out = dev_checked(info[0], od, 0, M * N, "cudaMatmul: out");
  const void* a = dev_checked(info[2], ad, 0, M * K, "cudaMatmul: a");
  const void* b = dev_checked(info[4], bd, 0, N * K, "cudaMatmul: b");
  const void* bias = opt_dev(info[6], biasd, N, "cudaMatmul: bias");
  cudaStream_t st = arg_stream(info, 12);
  if (M * N == 0) return info.Env().Undefined();
  float_gemm(out, od, a, ad, b, bd, trans_b, bias, biasd, M, N, K, nullptr, st);
  return info.Env().Undefined();
}

// cudaInt8Gemm(out, outDtype, xq, xScale, wq, wScale, wScaleStride, bias|null, biasDtype, M, N, K, stream)
// out = int32(xq @ wq^T) * xScale[m] * wScale[n * stride] + bias
Napi::Value Int8Gemm(const Napi::CallbackInfo& info) {
  DType od = arg_float_dtype(info, 1, "outDtype");
  size_t stride = arg_size(info, 6, "wScaleStride");
  DType biasd = is_nullish(info[7]) ? DType::float32 : arg_float_dtype(info, 8, "biasDtype");
  int64_t M = arg_size(info, 9, "M"), N = arg_size(info, 10, "N"), K = arg_size(info, 11, "K");
  void* out = dev_checked(info[0], od, 0, M * N, "cudaInt8Gemm: out");
  const int8_t* xq = reinterpret_cast<const int8_t*>(dev_checked(info[2], DType::int8, 0, M * K, "cudaInt8Gemm: xq"));
  const float* xs = reinterpret_cast<const float*>(dev_checked(info[3], DType::float32, 0, M, "cudaInt8Gemm: xScale"));
  const int8_t* wq = reinterpret_cast<const int8_t*>(dev_checked(info[4], DType::int8, 0, N * K, "cudaInt8Gemm: wq"));
  const float* ws = reinterpret_cast<const float*>(dev_checked(info[5], DType::float32, 0, N == 0 ? 0 : (N - 1) * stride + 1, "cudaInt8Gemm: wScale"));
  const void* bias = opt_dev(info[7], biasd, N, "cudaInt8Gemm: bias");
  cudaStream_t st = arg_stream(info, 12);
  if (M * N == 0) return info.Env().Undefined();
  Workspace acc(static_cast<size_t>(M * N) * 4, st);
  RowMajorGemm g;
  g.m = M; g.n = N; g.k = K;
  g.a = xq; g.a_type = lt::R_8I; g.lda = K;
  g.b = wq; g.b_type = lt::R_8I; g.ldb = K; g.trans_b = true;
  g.d = acc.get(); g.d_type = lt::R_32I; g.ldd = N;
  g.compute = lt::COMPUTE_32I;
  // cuBLASLt's IMMA kernels want K and the leading dimensions in multiples of 4.
  if (!(K % 4 == 0 && N % 4 == 0 && lt_gemm(g, st)))
    gemm_i8_kernel<<<tiles(M, N), 256, 0, st>>>(xq, wq, static_cast<int32_t*>(acc.get()), M, N, K);
  epilogue_kernel<int32_t><<<grid_for(static_cast<size_t>(M * N), 256), 256, 0, st>>>(static_cast<int32_t*>(acc.get()), out, od, xs, false, ws, stride,
                                                                                      bias, biasd, M, N);
  check_launch("cudaInt8Gemm");
  return info.Env().Undefined();
}

// cudaFp8Gemm(out, outDtype, xq, xScale, xScaleShared, wq, wScale, wScaleStride, bias|null, biasDtype, M, N, K, stream)
// out = float32(xq @ wq^T) (e4m3 x e4m3, fp32 accumulation: exact products) * xScale[m or 0] * wScale[n * stride] + bias.
// cuBLASLt fp8 needs Hopper or Ada (and K, N multiples of 16); elsewhere the codes are decoded to float32 first.
Napi::Value Fp8Gemm(const Napi::CallbackInfo& info) {
  DType od = arg_float_dtype(info, 1, "outDtype");
  bool shared = arg_bool(info, 4, "xScaleShared");
  size_t stride = arg_size(info, 7, "wScaleStride");
  DType biasd = is_nullish(info[8]) ? DType::float32 : arg_float_dtype(info, 9, "biasDtype");
  int64_t M = arg_size(info, 10, "M"), N = arg_size(info, 11, "N"), K = arg_size(info, 12, "K");
  void* out = dev_checked(info[0], od, 0, M * N, "cudaFp8Gemm: out");
  const uint8_t* xq = dev_checked(info[2], DType::float8_e4m3fn, 0, M * K, "cudaFp8Gemm: xq");
  const float* xs = reinterpret_cast<const float*>(dev_checked(info[3], DType::float32, 0, shared ? 1 : M, "cudaFp8Gemm: xScale"));
  const uint8_t* wq = dev_checked(info[5], DType::float8_e4m3fn, 0, N * K, "cudaFp8Gemm: wq");
  const float* ws = reinterpret_cast<const float*>(dev_checked(info[6], DType::float32, 0, N == 0 ? 0 : (N - 1) * stride + 1, "cudaFp8Gemm: wScale"));
  const void* bias = opt_dev(info[8], biasd, N, "cudaFp8Gemm: bias");
  cudaStream_t st = arg_stream(info, 13);
  if (M * N == 0) return info.Env().Undefined();
  Workspace acc(static_cast<size_t>(M * N) * 4, st);
  RowMajorGemm g;
  g.m = M; g.n = N; g.k = K;
  g.a = xq; g.a_type = lt::R_8F_E4M3; g.lda = K;
  g.b = wq; g.b_type = lt::R_8F_E4M3; g.ldb = K; g.trans_b = true;
  g.d = acc.get(); g.d_type = lt::R_32F; g.ldd = N;
  if (!(K % 16 == 0 && N % 16 == 0 && lt_gemm(g, st))) {
    // decode both operands to float32 and run the float kernel: the same exact products
    Workspace xa(static_cast<size_t>(M * K) * 4, st), wa(static_cast<size_t>(N * K) * 4, st);
    float one = 1.0f;
    Workspace ones(4, st);
    check(cudaMemcpyAsync(ones.get(), &one, 4, cudaMemcpyHostToDevice, st), "cudaMemcpyAsync");
    check(cudaStreamSynchronize(st), "cudaStreamSynchronize");  // `one` lives on this stack frame
    dequant_rows_kernel<<<grid_for(M * K, 256), 256, 0, st>>>(xq, DType::float8_e4m3fn, static_cast<float*>(ones.get()), nullptr, K, K, 0, xa.get(), DType::float32, M * K);
    dequant_rows_kernel<<<grid_for(N * K, 256), 256, 0, st>>>(wq, DType::float8_e4m3fn, static_cast<float*>(ones.get()), nullptr, K, K, 0, wa.get(), DType::float32, N * K);
    gemm_f32acc_kernel<<<tiles(M, N), 256, 0, st>>>(xa.get(), DType::float32, wa.get(), DType::float32, true, static_cast<float*>(acc.get()), M, N, K);
  }
  epilogue_kernel<float><<<grid_for(static_cast<size_t>(M * N), 256), 256, 0, st>>>(static_cast<float*>(acc.get()), out, od, xs, shared, ws, stride,
                                                                                    bias, biasd, M, N);
  check_launch("cudaFp8Gemm");
  return info.Env().Undefined();
}

// cudaMatmulQuantB(out, outDtype, a, aDtype, aRowScale|null, qdata, qdtype, scale, zero|null, scaleRowStride, groupSize,
//                  bias|null, biasDtype, M, N, K, stream)
// out = rowScale[m] * (a @ dequant(B)^T) + bias: B is dequantized into a workspace of a's dtype, then one GEMM.
Napi::Value MatmulQuantB(const Napi::CallbackInfo& info) {
  DType od = arg_float_dtype(info, 1, "outDtype"), ad = arg_float_dtype(info, 3, "aDtype"), qd = arg_dtype(info, 6, "qdtype");
  size_t srs = arg_size(info, 9, "scaleRowStride"), group = arg_size(info, 10, "groupSize");
  DType biasd = is_nullish(info[11]) ? DType::float32 : arg_float_dtype(info, 12, "biasDtype");
  int64_t M = arg_size(info, 13, "M"), N = arg_size(info, 14, "N"), K = arg_size(info, 15, "K");
  if (group == 0 || K % group != 0) throw std::invalid_argument("cudaMatmulQuantB: groupSize must divide K");
  size_t sn = N == 0 ? 0 : (N - 1) * srs + K / group;
  void* out = dev_checked(info[0], od, 0, M * N, "cudaMatmulQuantB: out");
  const void* a = dev_checked(info[2], ad, 0, M * K, "cudaMatmulQuantB: a");
  const float* row_scale = reinterpret_cast<const float*>(opt_dev(info[4], DType::float32, M, "cudaMatmulQuantB: aRowScale"));
  const uint8_t* q = dev_checked(info[5], qd, 0, N * K, "cudaMatmulQuantB: qdata");
  const float* scale = reinterpret_cast<const float*>(dev_checked(info[7], DType::float32, 0, sn, "cudaMatmulQuantB: scale"));
  const float* zero = reinterpret_cast<const float*>(opt_dev(info[8], DType::float32, sn, "cudaMatmulQuantB: zero"));
  const void* bias = opt_dev(info[11], biasd, N, "cudaMatmulQuantB: bias");
  cudaStream_t st = arg_stream(info, 16);
  if (M * N == 0) return info.Env().Undefined();
  Workspace w(static_cast<size_t>(N * K) * hd::bits_of(ad) / 8, st);
  dequant_rows_kernel<<<grid_for(N * K, 256), 256, 0, st>>>(q, qd, scale, zero, K, group, srs, w.get(), ad, N * K);
  check_launch("cudaMatmulQuantB dequantize");
  float_gemm(out, od, a, ad, w.get(), ad, true, bias, biasd, M, N, K, row_scale, st);
  return info.Env().Undefined();
}

// cudaGemmInfo() -> {cublasLt: bool, path?, version?, error?}
Napi::Value GemmInfo(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  const lt::LoadResult& lib = lt::shared();
  o.Set("cublasLt", lib.api != nullptr);
  if (lib.api) {
    o.Set("path", lib.api->path);
    o.Set("version", static_cast<double>(lib.api->version));
  } else {
    o.Set("error", lib.error);
  }
  return o;
}

void Register(Napi::Env env, Napi::Object exports) {
  VL_EXPORT("cudaMatmul", Matmul);
  VL_EXPORT("cudaInt8Gemm", Int8Gemm);
  VL_EXPORT("cudaFp8Gemm", Fp8Gemm);
  VL_EXPORT("cudaMatmulQuantB", MatmulQuantB);
  VL_EXPORT("cudaGemmInfo", GemmInfo);
}
VL_REGISTER(Register);

}  // namespace
}  // namespace cu
}  // namespace vl
