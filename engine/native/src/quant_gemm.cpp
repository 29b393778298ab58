// matmulQuantB: out[M,N] = rowScale[m] * (a[M,K] @ dequant(B)[N,K]^T) + bias[n]
// for a quantized weight B (any format of quant.cpp), "dequantizing while
// packing": blocks of B's rows are dequantized into a per-thread float32
// scratch and multiplied with vl::gemm_f32, so the full float32 weight never
// exists. The product is bit-identical to dequantize() into a float32 weight
// followed by the float32 matmul with transB (same values, same GEMM, the
// same K order per output element); the epilogue is applied once per output
// element: v = acc; v = float32(rowScale[m] * v) when a row scale is given;
// v = float32(v + bias[n]) when a bias is given; then v is rounded to outDtype.
#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "float_ops.h"
#include "gemm.h"
#include "napi_args.h"
#include "quant_kernels.h"
#include "registry.h"
#include "threadpool.h"

namespace vl {
namespace {

// Columns of the output (rows of B) per dequantized block: a multiple of
// every GEMM build's NR, large enough that re-packing A once per block is
// cheap next to the block's product, small enough to keep the scratch near L2.
size_t block_rows(size_t M, size_t N, size_t K) {
  size_t nb = M <= 64 ? 64 : M <= 256 ? 128 : 256;
  // Keep the float32 scratch of one block at most ~4 MiB for very long rows.
  while (nb > 32 && nb * K * sizeof(float) > (size_t(4) << 20)) nb /= 2;
  // Enough blocks to keep every thread busy.
  const size_t threads = static_cast<size_t>(num_threads());
  while (nb > 32 && (N + nb - 1) / nb < 2 * threads) nb /= 2;
  return nb;
}

// Rows of A per task: the whole of A unless there are fewer N blocks than
// threads. Splits keep at least 64 rows, so no part falls to the GEMM's
// few-row dot-product path when the full product would not (results would
// otherwise differ in the last bits from the plain matmul).
size_t m_parts(size_t M, size_t n_blocks) {
  const size_t threads = static_cast<size_t>(num_threads());
  if (n_blocks >= threads || M < 128) return 1;
  return std::min((threads + n_blocks - 1) / n_blocks, M / 64);
}

struct QuantMatmul {
  size_t M, N, K;
  const float* a;          // [M, K] float32
  const float* row_scale;  // [M] or null
  QuantView b;             // [N, K]
  const float* bias;       // [N] float32 or null
  uint8_t* out;
  DType out_dtype;
};

// v = rowScale * v, then v + bias: each rounded to float32 (this file is built
// without FMA, so nothing is fused).
void epilogue_row(float* v, size_t n, const float* row_scale, const float* bias) {
  if (row_scale) {
    const float s = *row_scale;
    for (size_t j = 0; j < n; j++) v[j] = s * v[j];
  }
  if (bias)
    for (size_t j = 0; j < n; j++) v[j] = v[j] + bias[j];
}

void run(const QuantMatmul& p) {
  const QuantLoops& loops = quant_loops();
  const size_t nb = block_rows(p.M, p.N, p.K);
  const size_t n_blocks = (p.N + nb - 1) / nb;
  const size_t parts = m_parts(p.M, n_blocks);
  const bool direct = p.out_dtype == DType::float32;
  parallel_for_checked(n_blocks * parts, 1, [&](size_t t0, size_t t1) {
    std::vector<float> w, c;
    for (size_t t = t0; t < t1; t++) {
      const size_t blk = t / parts, part = t % parts;
      const size_t n0 = blk * nb, n = std::min(nb, p.N - n0);
      const size_t m0 = p.M * part / parts, m1 = p.M * (part + 1) / parts, m = m1 - m0;
      w.resize(n * p.K);
      loops.dequantize(p.b, n0 * p.K, (n0 + n) * p.K, w.data());
      float* cblk;
      size_t ldc;
      if (direct) {
        cblk = reinterpret_cast<float*>(p.out) + m0 * p.N + n0;
        ldc = p.N;
      } else {
        c.resize(m * n);
        cblk = c.data();
        ldc = n;
      }
      gemm_f32(m, n, p.K, p.a + m0 * p.K, p.K, w.data(), p.K, true, cblk, ldc, false);
      for (size_t i = 0; i < m; i++) {
        float* row = cblk + i * ldc;
        epilogue_row(row, n, p.row_scale ? p.row_scale + m0 + i : nullptr, p.bias ? p.bias + n0 : nullptr);
        if (!direct) f32_to_activations(p.out_dtype, row, p.out + ((m0 + i) * p.N + n0) * 2, n);
      }
    }
  });
}

bool is_quant_dtype(DType d) { return is_quant_int(d) || is_quant_float(d); }

// matmulQuantB(out, outDtype, a, aDtype, aRowScale|null, qdata, qdtype, scale, zero|null,
//              scaleRowStride, groupSize, bias|null, biasDtype, M, N, K)
Napi::Value MatmulQuantB(const Napi::CallbackInfo& info) {
  if (info.Length() != 16)
    throw std::invalid_argument("matmulQuantB expects (out, outDtype, a, aDtype, aRowScale, qdata, qdtype, scale, zero, "
                                "scaleRowStride, groupSize, bias, biasDtype, M, N, K)");
  QuantMatmul p;
  p.out_dtype = arg_float_dtype(info, 1, "matmulQuantB: outDtype");
  const DType a_d = arg_float_dtype(info, 3, "matmulQuantB: aDtype");
  p.b.qdtype = arg_dtype(info, 6, "matmulQuantB: qdtype");
  if (!is_quant_dtype(p.b.qdtype))
    throw std::invalid_argument("matmulQuantB: qdtype must be int8, int4, float8_e4m3fn, fp6_e3m2, fp5_e2m2 or fp4_e2m1");
  p.b.scale_row_stride = arg_size(info, 9, "matmulQuantB: scaleRowStride");
  p.b.group = arg_size(info, 10, "matmulQuantB: groupSize");
  p.M = arg_size(info, 13, "matmulQuantB: M");
  p.N = arg_size(info, 14, "matmulQuantB: N");
  p.K = arg_size(info, 15, "matmulQuantB: K");
  p.b.cols = p.K;
  if (p.b.group == 0) throw std::invalid_argument("matmulQuantB: groupSize must be >= 1");
  if (p.K % p.b.group != 0)
    throw std::invalid_argument("matmulQuantB: groupSize " + std::to_string(p.b.group) + " does not divide K " + std::to_string(p.K));
  const size_t groups_per_row = p.K / p.b.group;
  if (p.b.scale_row_stride != 0 && p.b.scale_row_stride < groups_per_row)
    throw std::invalid_argument("matmulQuantB: scaleRowStride must be 0 (shared scales) or >= K / groupSize");
  const bool has_zero = !is_nullish(info[8]);
  if (has_zero && !is_quant_int(p.b.qdtype)) throw std::invalid_argument("matmulQuantB: a zero point needs an int8 or int4 qdtype");

  const size_t mk = mul_checked(p.M, p.K, "matmulQuantB: M * K");
  const size_t nk = mul_checked(p.N, p.K, "matmulQuantB: N * K");
  const size_t mn = mul_checked(p.M, p.N, "matmulQuantB: M * N");
  const size_t scale_n = p.N == 0 || groups_per_row == 0 ? 0
      : add_checked(mul_checked(p.N - 1, p.b.scale_row_stride, "matmulQuantB: scale extent"), groups_per_row, "matmulQuantB: scale extent");
  p.out = checked_storage(info[0], p.out_dtype, 0, mn, "matmulQuantB: out");
  const uint8_t* a = checked_storage(info[2], a_d, 0, mk, "matmulQuantB: a");
  p.row_scale = is_nullish(info[4]) ? nullptr
      : reinterpret_cast<const float*>(checked_storage(info[4], DType::float32, 0, p.M, "matmulQuantB: aRowScale"));
  p.b.q = checked_storage(info[5], p.b.qdtype, 0, nk, "matmulQuantB: qdata");
  p.b.q_bytes = storage_nbytes(info[5], "matmulQuantB: qdata");
  p.b.scale = reinterpret_cast<const float*>(checked_storage(info[7], DType::float32, 0, scale_n, "matmulQuantB: scale"));
  p.b.zero = has_zero ? reinterpret_cast<const float*>(checked_storage(info[8], DType::float32, 0, scale_n, "matmulQuantB: zero")) : nullptr;
  std::vector<float> bias;
  if (!is_nullish(info[11])) {
    const DType bias_d = arg_float_dtype(info, 12, "matmulQuantB: biasDtype");
    const uint8_t* b = checked_storage(info[11], bias_d, 0, p.N, "matmulQuantB: bias");
    bias.resize(p.N);
    activations_to_f32(bias_d, b, bias.data(), p.N);
  }
  p.bias = bias.empty() ? nullptr : bias.data();
  for (const uint8_t* input : {a, p.b.q, reinterpret_cast<const uint8_t*>(p.b.scale), reinterpret_cast<const uint8_t*>(p.b.zero),
                               reinterpret_cast<const uint8_t*>(p.row_scale)})
    if (input == p.out) throw std::invalid_argument("matmulQuantB: out must not share its storage with an input");
  if (mn == 0) return info.Env().Undefined();

  std::vector<float> a32;
  if (a_d == DType::float32) {
    p.a = reinterpret_cast<const float*>(a);
  } else {
    a32.resize(mk);
    parallel_for(p.M, std::max<size_t>(1, 65536 / std::max<size_t>(p.K, 1)), [&](size_t r0, size_t r1) {
      activations_to_f32(a_d, a + r0 * p.K * 2, a32.data() + r0 * p.K, (r1 - r0) * p.K);
    });
    p.a = a32.data();
  }
  run(p);
  return info.Env().Undefined();
}

void Register(Napi::Env env, Napi::Object exports) { VL_EXPORT("matmulQuantB", MatmulQuantB); }
VL_REGISTER(Register);

}  // namespace
}  // namespace vl
