// quantize / dequantize on the GPU with quant.cpp's formulas (each float32
// operation rounded once, no contraction: --fmad=false), so codes and scales
// match the cpu kernel bit for bit. Two passes: one block per group computes
// its scale (and zero), then one thread per 8 elements encodes (8 packed
// codes fill whole bytes, so threads never share a byte).
#include "cuda_common.cuh"
#include "../float_ops.h"

namespace vl {
namespace cu {
namespace {

constexpr float kFloat32Eps = 1.1920928955078125e-07f;
constexpr float kFloatScaleMin = 1e-12f;
enum class Scheme : int { symmetric_int, symmetric_float, asymmetric_int };

__device__ __host__ inline float quant_float_max(DType d) {
  switch (d) {
    case DType::float8_e4m3fn: return 448.0f;
    case DType::fp6_e3m2: return 28.0f;
    case DType::fp5_e2m2: return 7.0f;
    default: return 6.0f;
  }
}
__device__ inline float round_half_even_small(float y) {
  constexpr float kMagic = 12582912.0f;
  return __fsub_rn(__fadd_rn(y, kMagic), kMagic);
}
__device__ inline int32_t round_clamped(float y, float qmin, float qmax) {
  float c = y > qmin ? y : qmin;
  c = c < qmax ? c : qmax;
  float r = round_half_even_small(c);
  return y == y ? static_cast<int32_t>(r) : 0;
}

struct QJob {
  const void* src; DType sd;
  size_t rows, cols, group, groups_per_row;
  uint8_t* q; DType qd;
  float* scale; float* zero;
  Scheme scheme; float qmin, qmax; int32_t mid;
};

__global__ void group_scale_kernel(QJob j) {
  __shared__ float smin[8], smax[8];
  __shared__ int snan[8];
  size_t g = blockIdx.x, row = g / j.groups_per_row, col0 = (g % j.groups_per_row) * j.group;
  float lo = INFINITY, hi = -INFINITY;
  int nan = 0;
  for (size_t c = threadIdx.x; c < j.group; c += blockDim.x) {
    float v = hd::load_act(j.src, j.sd, row * j.cols + col0 + c);
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
    nan |= v != v;
  }
  for (int o = 16; o > 0; o >>= 1) {
    lo = fminf(lo, __shfl_xor_sync(0xffffffffu, lo, o));
    hi = fmaxf(hi, __shfl_xor_sync(0xffffffffu, hi, o));
    nan |= __shfl_xor_sync(0xffffffffu, nan, o);
  }
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) { smin[warp] = lo; smax[warp] = hi; snan[warp] = nan; }
  __syncthreads();
  if (threadIdx.x != 0) return;
  lo = smin[0]; hi = smax[0]; nan = snan[0];
  for (int w = 1; w < static_cast<int>(blockDim.x / 32); w++) { lo = fminf(lo, smin[w]); hi = fmaxf(hi, smax[w]); nan |= snan[w]; }
  float min_neg = nan ? NAN : fminf(lo, 0.0f), max_pos = nan ? NAN : fmaxf(hi, 0.0f);
  float scale;
  if (j.scheme == Scheme::symmetric_int) {
    float amax = nan ? NAN : fmaxf(-min_neg, max_pos);
    scale = __fdiv_rn(amax, __fdiv_rn(j.qmax - j.qmin, 2.0f));
    scale = scale < kFloat32Eps ? kFloat32Eps : scale;
  } else if (j.scheme == Scheme::symmetric_float) {
    float amax = nan ? NAN : fmaxf(-min_neg, max_pos);
    scale = __fdiv_rn(amax, quant_float_max(j.qd));
    scale = scale < kFloatScaleMin ? kFloatScaleMin : scale;
  } else {
    float range = __fsub_rn(max_pos, min_neg);
    scale = __fdiv_rn(range, __fsub_rn(j.qmax, j.qmin));
    scale = scale < kFloat32Eps ? kFloat32Eps : scale;
    j.zero[g] = __fadd_rn(min_neg, __fmul_rn(scale, static_cast<float>(j.mid)));
  }
  j.scale[g] = scale;
}

__device__ uint32_t encode_one(const QJob& j, float x, float scale, float zero) {
  switch (j.scheme) {
    case Scheme::symmetric_int:
      return static_cast<uint32_t>(round_clamped(__fdiv_rn(x, scale), j.qmin, j.qmax)) & (j.qd == DType::int4 ? 0xfu : 0xffu);
    case Scheme::asymmetric_int: {
      float min_val = __fsub_rn(zero, __fmul_rn(scale, static_cast<float>(j.mid)));
      int32_t q = round_clamped(__fdiv_rn(__fsub_rn(x, min_val), scale), j.qmin, j.qmax);
      q = x == x ? q - j.mid : 0;
      return static_cast<uint32_t>(q) & (j.qd == DType::int4 ? 0xfu : 0xffu);
    }
    default: {
      float y = __fdiv_rn(x, scale);
      switch (j.qd) {
        case DType::float8_e4m3fn: return hd::f32_to_e4m3fn_saturated(y);
        case DType::fp6_e3m2: return hd::Fp6E3M2::encode(y);
        case DType::fp5_e2m2: return hd::Fp5E2M2::encode(y);
        default: return hd::Fp4E2M1::encode(y);
      }
    }
  }
}

__global__ void encode_kernel(QJob j, size_t numel) {
  size_t groups8 = (numel + 7) / 8;
  VL_GRID_STRIDE(t, groups8) {
    size_t e1 = t * 8 + 8 < numel ? t * 8 + 8 : numel;
    for (size_t e = t * 8; e < e1; e++) {
      size_t row = e / j.cols, g = row * j.groups_per_row + (e % j.cols) / j.group;
      float x = hd::load_act(j.src, j.sd, e);
      hd::store_code(j.q, j.qd, e, encode_one(j, x, j.scale[g], j.zero ? j.zero[g] : 0.0f));
    }
  }
}

// Dequantized float32 value of element e (row-major [rows, cols]).
__device__ inline float dequant_one(const uint8_t* q, DType qd, const float* scale, const float* zero, size_t cols, size_t group,
                                    size_t srs, size_t e) {
  size_t row = e / cols, s = row * srs + (e % cols) / group;
  float v = qd == DType::int8 ? static_cast<float>(static_cast<int8_t>(q[e])) : hd::decode_float(qd, hd::load_code(q, qd, e));
  v = __fmul_rn(v, scale[s]);
  if (zero) v = __fadd_rn(v, zero[s]);
  return v;
}
__global__ void dequant_kernel(const uint8_t* q, DType qd, const float* scale, const float* zero, size_t cols, size_t group, size_t srs,
                               void* out, DType od, size_t numel) {
  VL_GRID_STRIDE(e, numel) hd::store_act(out, od, e, dequant_one(q, qd, scale, zero, cols, group, srs, e));
}

bool is_quant_int(DType d) { return d == DType::int8 || d == DType::int4; }
bool is_quant_float(DType d) { return d == DType::float8_e4m3fn || d == DType::fp6_e3m2 || d == DType::fp5_e2m2 || d == DType::fp4_e2m1; }

// cudaQuantize(src, srcDtype, rows, cols, groupSize, qdata, qdtype, scale, zero|null, asymmetric, qmin, qmax, stream)
Napi::Value Quantize(const Napi::CallbackInfo& info) {
  QJob j{};
  j.sd = arg_float_dtype(info, 1, "srcDtype");
  j.rows = arg_size(info, 2, "rows");
  j.cols = arg_size(info, 3, "cols");
  j.group = arg_size(info, 4, "groupSize");
  j.qd = arg_dtype(info, 6, "qdtype");
  bool asym = arg_bool(info, 9, "asymmetric");
  j.qmin = static_cast<float>(arg_int(info, 10, "qmin"));
  j.qmax = static_cast<float>(arg_int(info, 11, "qmax"));
  if (!is_quant_int(j.qd) && !is_quant_float(j.qd)) throw std::invalid_argument("cudaQuantize: qdtype must be int8, int4, float8_e4m3fn, fp6_e3m2, fp5_e2m2 or fp4_e2m1");
  if (j.group == 0 || j.cols % j.group != 0) throw std::invalid_argument("cudaQuantize: groupSize must divide cols");
  if (asym) {
    if (!is_quant_int(j.qd)) throw std::invalid_argument("cudaQuantize: asymmetric quantization needs an int8 or int4 qdtype");
    j.scheme = Scheme::asymmetric_int;
    j.mid = static_cast<int32_t>((static_cast<int64_t>(j.qmin) + static_cast<int64_t>(j.qmax) + 1) / 2);
  } else {
    j.scheme = is_quant_int(j.qd) ? Scheme::symmetric_int : Scheme::symmetric_float;
  }
  size_t numel = mul_checked(j.rows, j.cols, "rows*cols");
  j.groups_per_row = j.cols / j.group;
  size_t groups = j.rows * j.groups_per_row;
  j.src = dev_checked(info[0], j.sd, 0, numel, "cudaQuantize: src");
  j.q = dev_checked(info[5], j.qd, 0, numel, "cudaQuantize: qdata");
  j.scale = reinterpret_cast<float*>(dev_checked(info[7], DType::float32, 0, groups, "cudaQuantize: scale"));
  j.zero = is_nullish(info[8]) ? nullptr : reinterpret_cast<float*>(dev_checked(info[8], DType::float32, 0, groups, "cudaQuantize: zero"));
  if (asym != (j.zero != nullptr)) throw std::invalid_argument("cudaQuantize: asymmetric quantization needs a zero storage, symmetric none");
  cudaStream_t st = arg_stream(info, 12);
  if (!numel) return info.Env().Undefined();
  if (groups > 0x7fffffffu) throw std::out_of_range("cudaQuantize: too many groups");
  unsigned threads = j.group >= 256 ? 256 : j.group >= 128 ? 128 : j.group >= 64 ? 64 : 32;
  group_scale_kernel<<<static_cast<unsigned>(groups), threads, 0, st>>>(j);
  check_launch("cudaQuantize scales");
  encode_kernel<<<grid_for((numel + 7) / 8, 256), 256, 0, st>>>(j, numel);
  check_launch("cudaQuantize encode");
  return info.Env().Undefined();
}

// cudaDequantize(qdata, qdtype, scale, zero|null, rows, cols, groupSize, scaleRowStride, out, outDtype, stream)
Napi::Value Dequantize(const Napi::CallbackInfo& info) {
  DType qd = arg_dtype(info, 1, "qdtype");
  size_t rows = arg_size(info, 4, "rows"), cols = arg_size(info, 5, "cols"), group = arg_size(info, 6, "groupSize"), srs = arg_size(info, 7, "scaleRowStride");
  DType od = arg_float_dtype(info, 9, "outDtype");
  if (group == 0 || cols % group != 0) throw std::invalid_argument("cudaDequantize: groupSize must divide cols");
  size_t numel = mul_checked(rows, cols, "rows*cols");
  size_t sn = rows == 0 ? 0 : (rows - 1) * srs + cols / group;
  const uint8_t* q = dev_checked(info[0], qd, 0, numel, "cudaDequantize: qdata");
  const float* scale = reinterpret_cast<const float*>(dev_checked(info[2], DType::float32, 0, sn, "cudaDequantize: scale"));
  const float* zero = is_nullish(info[3]) ? nullptr : reinterpret_cast<const float*>(dev_checked(info[3], DType::float32, 0, sn, "cudaDequantize: zero"));
  void* out = dev_checked(info[8], od, 0, numel, "cudaDequantize: out");
  cudaStream_t st = arg_stream(info, 10);
  if (!numel) return info.Env().Undefined();
  dequant_kernel<<<grid_for(numel, 256), 256, 0, st>>>(q, qd, scale, zero, cols, group, srs, out, od, numel);
  check_launch("cudaDequantize");
  return info.Env().Undefined();
}

void Register(Napi::Env env, Napi::Object exports) {
  VL_EXPORT("cudaQuantize", Quantize);
  VL_EXPORT("cudaDequantize", Dequantize);
}
VL_REGISTER(Register);

}  // namespace
}  // namespace cu
}  // namespace vl
