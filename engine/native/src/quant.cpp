// quantize / dequantize: per-group scales (and float zero points) for the
// quantized weight and activation formats of torchao's schemes. The formulas
// (float32 throughout, each operation rounded once; "round" is half to even;
// eps = 2^-23, float32's machine epsilon):
//
// symmetric, integer codes (int8, int4):
//   amax  = max |x| over the group (NaN in the group makes it NaN, as torch.amax)
//   scale = amax / ((qmax - qmin) / 2), then scale < eps ? eps : scale
//   q     = clamp(round(x / scale), qmin, qmax)        (NaN x gives 0)
// symmetric, float codes (float8_e4m3fn, fp6_e3m2, fp5_e2m2, fp4_e2m1; qmin/qmax unused):
//   scale = amax / fmax (448, 28, 7, 6), then scale < 1e-12 ? 1e-12 : scale
//   q     = saturating round-to-nearest-even cast of float32(x / scale), as
//           cast(..., saturate=true) does
// asymmetric (torchao's int4 "tinygemm" grid, float zero point in the value domain):
//   minNeg = min(min x, 0), maxPos = max(max x, 0)
//   scale  = (maxPos - minNeg) / (qmax - qmin), then scale < eps ? eps : scale
//   mid    = (qmin + qmax + 1) / 2                      (8 for [0, 15])
//   zero   = minNeg + scale * mid
//   q      = clamp(round((x - (zero - scale * mid)) / scale), qmin, qmax)
//            (torchao's operation order: min_val = zero - scale * mid first)
//   stored = q - mid (int4: the signed nibble)
// dequantize: symmetric int q * scale; float decode(q) * scale; asymmetric
//   stored * scale + zero (two roundings, never fused).
//
// Layout: groups are runs of groupSize consecutive elements of a row; scale
// and zero are float32 [rows, cols / groupSize]. Codes are a packed bit stream
// (see quant_kernels.h). Every CPU level writes identical bytes.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "cpu_features.h"
#include "float_ops.h"
#include "napi_args.h"
#include "quant_kernels.h"
#include "registry.h"
#include "threadpool.h"

namespace vl {

const QuantLoops& quant_loops_portable() {
  static const QuantLoops loops{generic_stats, generic_encode, generic_dequantize};
  return loops;
}

const QuantLoops& quant_loops() {
  static const QuantLoops& loops = [&]() -> const QuantLoops& {
    const CpuFeatures& f = cpu_features();
    if (f.avx512) return quant_loops_avx512();
    if (f.avx2_fma) return quant_loops_avx2();
    return quant_loops_portable();
  }();
  return loops;
}

namespace {

constexpr float kFloat32Eps = 1.1920928955078125e-07f;  // torch.finfo(torch.float32).eps
constexpr float kFloatScaleMin = 1e-12f;
// Elements per work item: a multiple of 8, so a packed stream's work items
// start on byte boundaries and threads never write the same byte.
constexpr size_t kChunk = 8192;
// Largest part of one group a thread reduces on its own (statistics pass).
constexpr size_t kStatChunk = 16384;

bool is_quant_dtype(DType d) { return is_quant_int(d) || is_quant_float(d); }

// The stored integer range of an integer code type.
void int_code_range(DType d, int64_t* lo, int64_t* hi) {
  if (d == DType::int8) { *lo = -128; *hi = 127; }
  else { *lo = -8; *hi = 7; }
}

int64_t arg_integer_bound(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (!info[i].IsNumber()) throw std::invalid_argument(std::string(what) + " must be a number");
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(std::fabs(v) <= 65536.0) || v != std::floor(v)) throw std::invalid_argument(std::string(what) + " must be an integer");
  return static_cast<int64_t>(v);
}

// Converts `n` float activations of dtype d at element `first` to float32 (into buf unless float32).
const float* load_values(DType d, const uint8_t* src, size_t first, size_t n, float* buf) {
  const void* p = src + first * float_elem_bytes(d);
  return f32_view(d, p, buf, n);
}

struct QuantizeJob {
  const uint8_t* src;
  DType src_dtype;
  size_t rows, cols, group;
  uint8_t* q;
  DType qdtype;
  float* scale;
  float* zero;  // asymmetric only
  QuantScheme scheme;
  float qmin, qmax;
  int32_t mid;
};

// Phase 1: statistics of every group, each group split into parts of at most
// kStatChunk elements so one huge group (per-tensor) still uses every thread.
std::vector<GroupStats> group_statistics(const QuantizeJob& job, const QuantLoops& loops) {
  const size_t groups = job.rows * (job.cols / job.group);
  const size_t parts = (job.group + kStatChunk - 1) / kStatChunk;
  const size_t units = groups * parts;
  std::vector<GroupStats> partial(units);
  parallel_for_checked(units, std::max<size_t>(1, 65536 / std::min(job.group, kStatChunk)), [&](size_t u0, size_t u1) {
    std::vector<float> buf(job.src_dtype == DType::float32 ? 0 : std::min(job.group, kStatChunk));
    for (size_t u = u0; u < u1; u++) {
      const size_t g = u / parts, part = u % parts;
      const size_t first = g * job.group + part * kStatChunk;
      const size_t n = std::min(kStatChunk, job.group - part * kStatChunk);
      loops.stats(load_values(job.src_dtype, job.src, first, n, buf.data()), n, &partial[u]);
    }
  });
  std::vector<GroupStats> stats(groups);
  for (size_t g = 0; g < groups; g++) {
    GroupStats& s = stats[g];
    for (size_t part = 0; part < parts; part++) {
      const GroupStats& p = partial[g * parts + part];
      s.min = std::min(s.min, p.min);
      s.max = std::max(s.max, p.max);
      s.nan = s.nan || p.nan;
    }
  }
  return stats;
}

// Scale (and zero) of each group from its statistics.
void compute_scales(const QuantizeJob& job, const std::vector<GroupStats>& stats) {
  const size_t groups = stats.size();
  for (size_t g = 0; g < groups; g++) {
    const GroupStats& s = stats[g];
    const float min_neg = s.nan ? NAN : std::min(s.min, 0.0f);
    const float max_pos = s.nan ? NAN : std::max(s.max, 0.0f);
    float scale = 0.0f;
    switch (job.scheme) {
      case QuantScheme::symmetric_int: {
        const float amax = s.nan ? NAN : std::max(-min_neg, max_pos);
        scale = amax / ((job.qmax - job.qmin) / 2.0f);
        scale = scale < kFloat32Eps ? kFloat32Eps : scale;  // NaN stays NaN, as torch.clamp
        break;
      }
      case QuantScheme::symmetric_float: {
        const float amax = s.nan ? NAN : std::max(-min_neg, max_pos);
        scale = amax / quant_float_max(job.qdtype);
        scale = scale < kFloatScaleMin ? kFloatScaleMin : scale;
        break;
      }
      case QuantScheme::asymmetric_int: {
        const float range = max_pos - min_neg;
        scale = range / (job.qmax - job.qmin);
        scale = scale < kFloat32Eps ? kFloat32Eps : scale;
        const float offset = scale * static_cast<float>(job.mid);
        job.zero[g] = min_neg + offset;
        break;
      }
    }
    job.scale[g] = scale;
  }
}

EncodeParams group_params(const QuantizeJob& job, size_t g) {
  EncodeParams p;
  p.scheme = job.scheme;
  p.qdtype = job.qdtype;
  p.scale = job.scale[g];
  p.qmin = job.qmin;
  p.qmax = job.qmax;
  p.mid = job.mid;
  p.min_val = 0.0f;
  if (job.scheme == QuantScheme::asymmetric_int) {
    const float offset = p.scale * static_cast<float>(job.mid);
    p.min_val = job.zero[g] - offset;
  }
  return p;
}

// Phase 2: codes of every element, in chunks of kChunk elements (byte aligned).
void encode_all(const QuantizeJob& job, const QuantLoops& loops) {
  const size_t n = job.rows * job.cols;
  const size_t chunks = (n + kChunk - 1) / kChunk;
  const unsigned bits = qdtype_bits(job.qdtype);
  parallel_for_checked(chunks, 1, [&](size_t c0, size_t c1) {
    std::vector<float> buf(job.src_dtype == DType::float32 ? 0 : kChunk);
    std::vector<uint8_t> codes(kChunk);
    for (size_t c = c0; c < c1; c++) {
      const size_t begin = c * kChunk, end = std::min(n, begin + kChunk);
      for (size_t i = begin; i < end;) {
        const size_t g = i / job.group;
        const size_t seg_end = std::min(end, (g + 1) * job.group);
        const size_t m = seg_end - i;
        const float* x = load_values(job.src_dtype, job.src, i, m, buf.data());
        loops.encode(x, m, group_params(job, g), codes.data() + (i - begin));
        i = seg_end;
      }
      pack_codes(job.q, begin, end - begin, bits, codes.data());
    }
  });
}

void require_distinct(const std::vector<std::pair<const uint8_t*, const char*>>& storages, const char* fn) {
  for (size_t i = 0; i < storages.size(); i++)
    for (size_t j = i + 1; j < storages.size(); j++)
      if (storages[i].first && storages[i].first == storages[j].first)
        throw std::invalid_argument(std::string(fn) + ": " + storages[i].second + " and " + storages[j].second + " must not share a storage");
}

// quantize(src, srcDtype, rows, cols, groupSize, qdata, qdtype, scale, zero|null, asymmetric, qmin, qmax)
Napi::Value Quantize(const Napi::CallbackInfo& info) {
  if (info.Length() != 12)
    throw std::invalid_argument("quantize expects (src, srcDtype, rows, cols, groupSize, qdata, qdtype, scale, zero, asymmetric, qmin, qmax)");
  QuantizeJob job;
  job.src_dtype = arg_float_dtype(info, 1, "quantize: srcDtype");
  job.rows = arg_size(info, 2, "quantize: rows");
  job.cols = arg_size(info, 3, "quantize: cols");
  job.group = arg_size(info, 4, "quantize: groupSize");
  job.qdtype = arg_dtype(info, 6, "quantize: qdtype");
  const bool asymmetric = arg_bool(info, 9, "quantize: asymmetric");
  if (!is_quant_dtype(job.qdtype))
    throw std::invalid_argument("quantize: qdtype must be int8, int4, float8_e4m3fn, fp6_e3m2, fp5_e2m2 or fp4_e2m1");
  if (job.group == 0) throw std::invalid_argument("quantize: groupSize must be >= 1");
  if (job.cols % job.group != 0)
    throw std::invalid_argument("quantize: groupSize " + std::to_string(job.group) + " does not divide cols " + std::to_string(job.cols));

  const int64_t qmin = arg_integer_bound(info, 10, "quantize: qmin"), qmax = arg_integer_bound(info, 11, "quantize: qmax");
  job.mid = 0;
  if (asymmetric) {
    if (!is_quant_int(job.qdtype)) throw std::invalid_argument("quantize: asymmetric quantization needs an int8 or int4 qdtype");
    if (qmin >= qmax || (qmin + qmax + 1) % 2 != 0)
      throw std::invalid_argument("quantize: asymmetric needs qmin < qmax with an integer midpoint (qmin + qmax + 1) / 2, e.g. [0, 15]");
    job.mid = static_cast<int32_t>((qmin + qmax + 1) / 2);
    int64_t lo, hi;
    int_code_range(job.qdtype, &lo, &hi);
    if (qmin - job.mid < lo || qmax - job.mid > hi)
      throw std::invalid_argument("quantize: the stored codes q - " + std::to_string(job.mid) + " for q in [qmin, qmax] do not fit the qdtype");
    job.scheme = QuantScheme::asymmetric_int;
  } else if (is_quant_int(job.qdtype)) {
    int64_t lo, hi;
    int_code_range(job.qdtype, &lo, &hi);
    if (qmin >= qmax || qmin < lo || qmax > hi)
      throw std::invalid_argument("quantize: symmetric " + std::string(job.qdtype == DType::int8 ? "int8" : "int4") +
                                  " needs qmin < qmax within [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    job.scheme = QuantScheme::symmetric_int;
  } else {
    job.scheme = QuantScheme::symmetric_float;  // qmin / qmax are not used
  }
  job.qmin = static_cast<float>(qmin);
  job.qmax = static_cast<float>(qmax);

  const bool has_zero = !is_nullish(info[8]);
  if (asymmetric && !has_zero) throw std::invalid_argument("quantize: asymmetric quantization needs a zero storage");
  if (!asymmetric && has_zero) throw std::invalid_argument("quantize: symmetric quantization has no zero point; pass null");

  const size_t n = mul_checked(job.rows, job.cols, "quantize: rows * cols");
  const size_t groups = job.group ? n / job.group : 0;
  job.src = checked_storage(info[0], job.src_dtype, 0, n, "quantize: src");
  job.q = checked_storage(info[5], job.qdtype, 0, n, "quantize: qdata");
  job.scale = reinterpret_cast<float*>(checked_storage(info[7], DType::float32, 0, groups, "quantize: scale"));
  job.zero = has_zero ? reinterpret_cast<float*>(checked_storage(info[8], DType::float32, 0, groups, "quantize: zero")) : nullptr;
  require_distinct({{job.src, "src"}, {job.q, "qdata"}, {reinterpret_cast<uint8_t*>(job.scale), "scale"},
                    {reinterpret_cast<uint8_t*>(job.zero), "zero"}}, "quantize");
  if (n == 0) return info.Env().Undefined();

  const QuantLoops& loops = quant_loops();
  compute_scales(job, group_statistics(job, loops));
  encode_all(job, loops);
  return info.Env().Undefined();
}

// dequantize(qdata, qdtype, scale, zero|null, rows, cols, groupSize, scaleRowStride, out, outDtype)
Napi::Value Dequantize(const Napi::CallbackInfo& info) {
  if (info.Length() != 10)
    throw std::invalid_argument("dequantize expects (qdata, qdtype, scale, zero, rows, cols, groupSize, scaleRowStride, out, outDtype)");
  QuantView v;
  v.qdtype = arg_dtype(info, 1, "dequantize: qdtype");
  if (!is_quant_dtype(v.qdtype))
    throw std::invalid_argument("dequantize: qdtype must be int8, int4, float8_e4m3fn, fp6_e3m2, fp5_e2m2 or fp4_e2m1");
  const size_t rows = arg_size(info, 4, "dequantize: rows");
  v.cols = arg_size(info, 5, "dequantize: cols");
  v.group = arg_size(info, 6, "dequantize: groupSize");
  v.scale_row_stride = arg_size(info, 7, "dequantize: scaleRowStride");
  const DType out_d = arg_float_dtype(info, 9, "dequantize: outDtype");
  if (v.group == 0) throw std::invalid_argument("dequantize: groupSize must be >= 1");
  if (v.cols % v.group != 0)
    throw std::invalid_argument("dequantize: groupSize " + std::to_string(v.group) + " does not divide cols " + std::to_string(v.cols));
  const size_t groups_per_row = v.cols / v.group;
  if (v.scale_row_stride != 0 && v.scale_row_stride < groups_per_row)
    throw std::invalid_argument("dequantize: scaleRowStride must be 0 (shared scales) or >= cols / groupSize");
  const bool has_zero = !is_nullish(info[3]);
  if (has_zero && !is_quant_int(v.qdtype)) throw std::invalid_argument("dequantize: a zero point needs an int8 or int4 qdtype");

  const size_t n = mul_checked(rows, v.cols, "dequantize: rows * cols");
  const size_t scale_n = rows == 0 || groups_per_row == 0 ? 0 : add_checked(mul_checked(rows - 1, v.scale_row_stride, "dequantize: scale extent"), groups_per_row, "dequantize: scale extent");
  v.q = checked_storage(info[0], v.qdtype, 0, n, "dequantize: qdata");
  v.q_bytes = storage_nbytes(info[0], "dequantize: qdata");
  v.scale = reinterpret_cast<const float*>(checked_storage(info[2], DType::float32, 0, scale_n, "dequantize: scale"));
  v.zero = has_zero ? reinterpret_cast<const float*>(checked_storage(info[3], DType::float32, 0, scale_n, "dequantize: zero")) : nullptr;
  uint8_t* out = checked_storage(info[8], out_d, 0, n, "dequantize: out");
  require_distinct({{out, "out"}, {v.q, "qdata"}, {reinterpret_cast<const uint8_t*>(v.scale), "scale"},
                    {reinterpret_cast<const uint8_t*>(v.zero), "zero"}}, "dequantize");
  if (n == 0) return info.Env().Undefined();

  const QuantLoops& loops = quant_loops();
  const size_t chunks = (n + kChunk - 1) / kChunk;
  parallel_for_checked(chunks, 4, [&](size_t c0, size_t c1) {
    std::vector<float> buf(out_d == DType::float32 ? 0 : kChunk);
    for (size_t c = c0; c < c1; c++) {
      const size_t begin = c * kChunk, end = std::min(n, begin + kChunk);
      if (out_d == DType::float32) {
        loops.dequantize(v, begin, end, reinterpret_cast<float*>(out) + begin);
      } else {
        loops.dequantize(v, begin, end, buf.data());
        f32_to_activations(out_d, buf.data(), out + begin * 2, end - begin);
      }
    }
  });
  return info.Env().Undefined();
}

void Register(Napi::Env env, Napi::Object exports) {
  VL_EXPORT("quantize", Quantize);
  VL_EXPORT("dequantize", Dequantize);
}
VL_REGISTER(Register);

}  // namespace
}  // namespace vl
