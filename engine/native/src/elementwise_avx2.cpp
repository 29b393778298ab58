// AVX2 + FMA vector math on float32 arrays (called only when
// cpu_features().avx2_fma): the same functions and operations as
// elementwise_avx512.cpp, 8 lanes wide. Tails go through a padded block.
#include <immintrin.h>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace vl {

static inline __m256 pow2i(__m256i q) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(q, _mm256_set1_epi32(0x7f)), 23)); }

// SLEEF xexpf, step for step as in elementwise_avx512.cpp (bit-identical results).
static inline __m256 exp8(__m256 d) {
  const __m256i q = _mm256_cvtps_epi32(_mm256_mul_ps(d, _mm256_set1_ps(1.442695040888963407359924681001892137426645954152985934135449406931f)));
  const __m256 qf = _mm256_cvtepi32_ps(q);
  __m256 s = _mm256_fmadd_ps(qf, _mm256_set1_ps(-0.693145751953125f), d);
  s = _mm256_fmadd_ps(qf, _mm256_set1_ps(-1.428606765330187045e-06f), s);
  __m256 u = _mm256_set1_ps(0.000198527617612853646278381f);
  u = _mm256_fmadd_ps(u, s, _mm256_set1_ps(0.00139304355252534151077271f));
  u = _mm256_fmadd_ps(u, s, _mm256_set1_ps(0.00833336077630519866943359f));
  u = _mm256_fmadd_ps(u, s, _mm256_set1_ps(0.0416664853692054748535156f));
  u = _mm256_fmadd_ps(u, s, _mm256_set1_ps(0.166666671633720397949219f));
  u = _mm256_fmadd_ps(u, s, _mm256_set1_ps(0.5f));
  u = _mm256_add_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(_mm256_mul_ps(s, s), u, s));
  const __m256i half = _mm256_srai_epi32(q, 1);
  u = _mm256_mul_ps(_mm256_mul_ps(u, pow2i(half)), pow2i(_mm256_sub_epi32(q, half)));
  u = _mm256_blendv_ps(u, _mm256_setzero_ps(), _mm256_cmp_ps(d, _mm256_set1_ps(-104.0f), _CMP_LT_OQ));
  u = _mm256_blendv_ps(u, _mm256_set1_ps(__builtin_inff()), _mm256_cmp_ps(_mm256_set1_ps(100.0f), d, _CMP_LT_OQ));
  return _mm256_blendv_ps(u, d, _mm256_cmp_ps(d, d, _CMP_UNORD_Q));  // NaN stays NaN
}

template <typename F>
static inline void map8(const float* x, float* y, size_t n, F f) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, f(_mm256_loadu_ps(x + i)));
  if (i < n) {
    float in[8] = {0}, out[8];
    std::memcpy(in, x + i, (n - i) * sizeof(float));
    _mm256_storeu_ps(out, f(_mm256_loadu_ps(in)));
    std::memcpy(y + i, out, (n - i) * sizeof(float));
  }
}

void exp_avx2(const float* x, float* y, size_t n) { map8(x, y, n, [](__m256 v) { return exp8(v); }); }

void silu_avx2(const float* x, float* y, size_t n) {
  map8(x, y, n, [](__m256 v) {
    __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), v));
    return _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
  });
}

// x / (1 + exp(-2u)), u = sqrt(2/pi) * fma(0.044715, x^3, x): see vec_gelu_tanh in elementwise.cpp.
void gelu_tanh_avx2(const float* x, float* y, size_t n) {
  map8(x, y, n, [](__m256 v) {
    __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(v, v), v);
    __m256 u = _mm256_mul_ps(_mm256_set1_ps(0.7978845608028654f), _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), x3, v));
    __m256 e = exp8(_mm256_mul_ps(_mm256_set1_ps(-2.0f), u));
    return _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
  });
}

float max_avx2(const float* x, size_t n) {
  __m256 m = _mm256_set1_ps(-__builtin_inff());
  size_t i = 0;
  for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
  float lanes[8];
  _mm256_storeu_ps(lanes, m);
  float r = lanes[0];
  for (int k = 1; k < 8; k++) r = lanes[k] > r ? lanes[k] : r;
  for (; i < n; i++) r = x[i] > r ? x[i] : r;
  return r;
}

double exp_shifted_sum_avx2(const float* x, float* y, size_t n, float shift) {
  const __m256 s = _mm256_set1_ps(shift);
  __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), s));
    _mm256_storeu_ps(y + i, e);
    acc0 = _mm256_add_pd(acc0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
    acc1 = _mm256_add_pd(acc1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
  }
  double lanes[4];
  _mm256_storeu_pd(lanes, _mm256_add_pd(acc0, acc1));
  double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  if (i < n) {
    float in[8] = {0}, out[8];
    std::memcpy(in, x + i, (n - i) * sizeof(float));
    _mm256_storeu_ps(out, exp8(_mm256_sub_ps(_mm256_loadu_ps(in), s)));  // lanes past n are not used
    std::memcpy(y + i, out, (n - i) * sizeof(float));
    for (size_t k = 0; k < n - i; k++) sum += out[k];
  }
  return sum;
}

}  // namespace vl
