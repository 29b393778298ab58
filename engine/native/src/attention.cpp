// Attention kernels: scaled dot-product attention (no mask, no dropout) and
// the rotary embedding Flux applies to q and k.
//
// Both take their operands head-major [batch, heads, seq, headDim] (torch's
// SDPA) or token-major [batch, seq, heads, headDim] (a Linear's output viewed
// per head), so Flux attention needs no transposes: one head's rows are then
// headDim values every heads * headDim. The token-major results are bit for
// bit the head-major ones (same values fed to the same GEMMs in the same order).
//
// sdpa works on a tile of kQueryTile query rows of one (batch, head) at a
// time and walks the keys in equal blocks of at most kMaxKeyBlock (512) with an online ("flash")
// softmax: per block S = (scale q) k^T, the running row max m and sum l are
// updated, the partial output is rescaled by exp(m_old - m_new) and P v is
// added (both products through gemm_f32). The scratch memory per thread is
// therefore fixed, independent of lq and lk:
//   q tile + output tile: 2 * 64 * headDim floats, scores: at most 64 * 512 floats,
//   k and v blocks (only for float16/bfloat16 inputs): at most 2 * 512 * headDim floats
// i.e. 192 KiB (float32) / 704 KiB (half precision) for headDim 128, against
// lq * lk * 4 bytes (81 MiB per head at lq = lk = 4608) for a full score matrix.
#include <algorithm>
#include <cmath>
#include <vector>
#include "float_ops.h"
#include "gemm.h"
#include "registry.h"
#include "threadpool.h"

namespace vl {
namespace {

constexpr size_t kQueryTile = 64;
constexpr size_t kMaxKeyBlock = 512;

// The keys are cut into equal blocks of at most kMaxKeyBlock: a thin last
// block (64 keys after 256 at lk = 320) would cost a whole extra pair of
// small GEMMs and a rescale of the output tile.
size_t key_block(size_t lk) {
  const size_t blocks = (lk + kMaxKeyBlock - 1) / kMaxKeyBlock;
  return blocks == 0 ? 1 : (lk + blocks - 1) / blocks;
}

struct SdpaProblem {
  DType dtype, out_dtype;
  const uint8_t *q, *k, *v;
  uint8_t* out;
  size_t heads, heads_total, lq, lk, dim;  // heads_total = batch * heads
  size_t key_block;
  float scale;
  bool token_major;

  // element offset of row `token` of head `head_index` (0 .. heads_total) in an operand of length len
  size_t row(size_t head_index, size_t token, size_t len) const {
    if (!token_major) return (head_index * len + token) * dim;
    const size_t b = head_index / heads, h = head_index % heads;
    return ((b * len + token) * heads + h) * dim;
  }
  size_t row_stride() const { return token_major ? heads * dim : dim; }
};

// One query tile of one (batch, head). Scratch vectors are sized by the caller.
struct SdpaWorker {
  const SdpaProblem& p;
  std::vector<float> q, o, s, kbuf, vbuf, row_max;
  std::vector<double> row_sum;

  explicit SdpaWorker(const SdpaProblem& prob)
      : p(prob), q(kQueryTile * prob.dim), o(kQueryTile * prob.dim), s(kQueryTile * prob.key_block),
        kbuf(prob.dtype == DType::float32 ? 0 : prob.key_block * prob.dim),
        vbuf(prob.dtype == DType::float32 ? 0 : prob.key_block * prob.dim), row_max(kQueryTile), row_sum(kQueryTile) {}

  void run(size_t head, size_t q0) {
    const size_t D = p.dim, eb = float_elem_bytes(p.dtype), ob = float_elem_bytes(p.out_dtype);
    const size_t tq = std::min(kQueryTile, p.lq - q0);
    const size_t ld = p.row_stride();

    for (size_t r = 0; r < tq; r++) {
      float* qr = q.data() + r * D;
      const float* qv = f32_view(p.dtype, p.q + p.row(head, q0 + r, p.lq) * eb, qr, D);
      for (size_t d = 0; d < D; d++) qr[d] = qv[d] * p.scale;  // scale q once instead of every score
    }
    std::fill(row_max.begin(), row_max.end(), -INFINITY);
    std::fill(row_sum.begin(), row_sum.end(), 0.0);

    const size_t KB = p.key_block;
    for (size_t k0 = 0; k0 < p.lk; k0 += KB) {
      const size_t bk = std::min(KB, p.lk - k0);
      const size_t kv_row = p.row(head, k0, p.lk);
      size_t kv_ld = ld;
      const float* kv = reinterpret_cast<const float*>(p.k) + kv_row;
      const float* vv = reinterpret_cast<const float*>(p.v) + kv_row;
      if (p.dtype != DType::float32) {  // half-precision keys and values are staged as float32 rows
        for (size_t r = 0; r < bk; r++) {
          activations_to_f32(p.dtype, p.k + (kv_row + r * ld) * eb, kbuf.data() + r * D, D);
          activations_to_f32(p.dtype, p.v + (kv_row + r * ld) * eb, vbuf.data() + r * D, D);
        }
        kv = kbuf.data();
        vv = vbuf.data();
        kv_ld = D;
      }
      gemm_f32(tq, bk, D, q.data(), D, kv, kv_ld, /*transB=*/true, s.data(), KB, false);
      for (size_t r = 0; r < tq; r++) {
        float* srow = s.data() + r * KB;
        const float m_new = std::max(row_max[r], vec_max(srow, bk));
        // exp(old max - new max) rescales what earlier blocks contributed (0 before the first block)
        const float correction = k0 == 0 ? 0.0f : std::exp(row_max[r] - m_new);
        const double block_sum = vec_exp_shifted_sum(srow, srow, bk, m_new);
        row_sum[r] = row_sum[r] * correction + block_sum;
        if (k0 > 0 && correction != 1.0f)
          for (size_t d = 0; d < D; d++) o[r * D + d] *= correction;
        row_max[r] = m_new;
      }
      gemm_f32(tq, D, bk, s.data(), KB, vv, kv_ld, /*transB=*/false, o.data(), D, /*accumulate=*/k0 > 0);
    }
    for (size_t r = 0; r < tq; r++) {
      const float inv = static_cast<float>(1.0 / row_sum[r]);
      for (size_t d = 0; d < D; d++) o[r * D + d] *= inv;
      f32_to_activations(p.out_dtype, o.data() + r * D, p.out + p.row(head, q0 + r, p.lq) * ob, D);
    }
  }
};

}  // namespace

// sdpa(out, outDtype, q, k, v, qkvDtype, batch, heads, lq, lk, headDim, scale, tokenMajor)
// out = softmax(q k^T * scale) v per (batch, head); all [batch, heads, L, headDim] contiguous,
// or [batch, L, heads, headDim] when tokenMajor.
static Napi::Value Sdpa(const Napi::CallbackInfo& info) {
  DType out_dtype = arg_float_dtype(info, 1, "sdpa: outDtype");
  DType dtype = arg_float_dtype(info, 5, "sdpa: qkvDtype");
  size_t batch = arg_size(info, 6, "sdpa: batch");
  size_t heads = arg_size(info, 7, "sdpa: heads");
  size_t lq = arg_size(info, 8, "sdpa: lq");
  size_t lk = arg_size(info, 9, "sdpa: lk");
  size_t dim = arg_size(info, 10, "sdpa: headDim");
  double scale = arg_num(info, 11, "sdpa: scale");
  if (!std::isfinite(scale)) throw std::out_of_range("sdpa: scale must be finite");
  const bool token_major = info.Length() > 12 && arg_bool(info, 12, "sdpa: tokenMajor");
  const size_t heads_total = mul_checked(batch, heads, "sdpa: batch * heads");
  const size_t q_elems = mul_checked(mul_checked(heads_total, lq, "sdpa: q size"), dim, "sdpa: q size");
  const size_t kv_elems = mul_checked(mul_checked(heads_total, lk, "sdpa: k size"), dim, "sdpa: k size");
  uint8_t* out = checked_storage(info[0], out_dtype, 0, q_elems, "sdpa: out");
  const uint8_t* q = checked_storage(info[2], dtype, 0, q_elems, "sdpa: q");
  const uint8_t* k = checked_storage(info[3], dtype, 0, kv_elems, "sdpa: k");
  const uint8_t* v = checked_storage(info[4], dtype, 0, kv_elems, "sdpa: v");
  // every query tile reads all of k and v, so writing out over them would corrupt later tiles
  // (out may be q itself: a tile reads its own q rows before writing them)
  if (out == k || out == v) throw std::invalid_argument("sdpa: out must not share its storage with k or v");
  if (q_elems == 0) return info.Env().Undefined();
  if (lk == 0) throw std::out_of_range("sdpa: lk must be >= 1 (softmax over no keys)");

  const SdpaProblem problem{dtype, out_dtype, q, k, v, out, heads, heads_total, lq, lk, dim, key_block(lk), static_cast<float>(scale), token_major};
  const size_t tiles = (lq + kQueryTile - 1) / kQueryTile;
  parallel_for_checked(heads_total * tiles, 1, [&](size_t begin, size_t end) {
    SdpaWorker worker(problem);
    for (size_t item = begin; item < end; item++) worker.run(item / tiles, (item % tiles) * kQueryTile);
  });
  return info.Env().Undefined();
}

// x * cos + rotate(x) * sin with rotate(x)[2i] = -x[2i+1], rotate(x)[2i+1] = x[2i].
// Three float32 roundings per element as in diffusers (x*cos, rotated*sin, the
// sum); fp-contract is off so they are not fused into an FMA.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
static void rotate_pairs(const float* x, const float* cos, const float* sin, float* y, size_t dim) {
  for (size_t i = 0; i + 1 < dim; i += 2) {
    const float re = x[i], im = x[i + 1];
    const float a0 = re * cos[i], b0 = -im * sin[i];
    const float a1 = im * cos[i + 1], b1 = re * sin[i + 1];
    y[i] = a0 + b0;
    y[i + 1] = a1 + b1;
  }
}
#pragma GCC pop_options

// rope(out, outDtype, x, xDtype, cos, sin, batch, heads, seq, headDim, tokenMajor)
// diffusers' apply_rotary_emb(use_real=True, use_real_unbind_dim=-1): x [batch, heads, seq, headDim]
// (or [batch, seq, heads, headDim] when tokenMajor), cos and sin float32 [seq, headDim], pairs
// (2i, 2i+1) interleaved. out may be x.
static Napi::Value Rope(const Napi::CallbackInfo& info) {
  DType out_dtype = arg_float_dtype(info, 1, "rope: outDtype");
  DType x_dtype = arg_float_dtype(info, 3, "rope: xDtype");
  size_t batch = arg_size(info, 6, "rope: batch");
  size_t heads = arg_size(info, 7, "rope: heads");
  size_t seq = arg_size(info, 8, "rope: seq");
  size_t dim = arg_size(info, 9, "rope: headDim");
  const bool token_major = info.Length() > 10 && arg_bool(info, 10, "rope: tokenMajor");
  if (dim % 2 != 0) throw std::invalid_argument("rope: headDim must be even (pairs of interleaved values), got " + std::to_string(dim));
  const size_t rows = mul_checked(mul_checked(batch, heads, "rope: x size"), seq, "rope: x size");
  const size_t numel = mul_checked(rows, dim, "rope: x size");
  const size_t table = mul_checked(seq, dim, "rope: cos/sin size");
  uint8_t* out = checked_storage(info[0], out_dtype, 0, numel, "rope: out");
  const uint8_t* x = checked_storage(info[2], x_dtype, 0, numel, "rope: x");
  const float* cos = reinterpret_cast<const float*>(checked_storage(info[4], DType::float32, 0, table, "rope: cos"));
  const float* sin = reinterpret_cast<const float*>(checked_storage(info[5], DType::float32, 0, table, "rope: sin"));
  if (numel == 0) return info.Env().Undefined();
  const size_t xb = float_elem_bytes(x_dtype), ob = float_elem_bytes(out_dtype);

  parallel_for_checked(rows, std::max<size_t>(1, 16384 / dim), [&](size_t begin, size_t end) {
    std::vector<float> xbuf(dim), ybuf(dim);
    for (size_t row = begin; row < end; row++) {
      const size_t s = token_major ? (row / heads) % seq : row % seq;
      const float* xv = f32_view(x_dtype, x + row * dim * xb, xbuf.data(), dim);
      rotate_pairs(xv, cos + s * dim, sin + s * dim, ybuf.data(), dim);
      f32_to_activations(out_dtype, ybuf.data(), out + row * dim * ob, dim);
    }
  });
  return info.Env().Undefined();
}

static void Register(Napi::Env env, Napi::Object exports) {
  VL_EXPORT("sdpa", Sdpa);
  VL_EXPORT("rope", Rope);
}
VL_REGISTER(Register);

}  // namespace vl
