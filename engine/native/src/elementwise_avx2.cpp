// AVX2 + FMA vector math on float32 arrays (called only when
// cpu_features().avx2_fma): the same functions and polynomial as
// elementwise_avx512.cpp, 8 lanes wide. Tails go through a padded block.
#include <immintrin.h>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace vl {

// exp(x) = 2^n * p(r), n = round(x / ln2). 2^n is applied as two factors
// 2^(n/2) * 2^(n - n/2), each a normal float, so overflow gives inf and
// underflow rounds gradually to 0 as it should. NaN stays NaN.
static inline __m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_set1_ps(89.0f), _mm256_max_ps(_mm256_set1_ps(-104.0f), x));  // NaN passes through
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  __m256i ni = _mm256_cvtps_epi32(n);
  __m256i n1 = _mm256_srai_epi32(ni, 1);
  __m256i n2 = _mm256_sub_epi32(ni, n1);
  __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
  __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
  return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
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

// x * sigmoid(2u), u = sqrt(2/pi) * (x + 0.044715 x^3) == 0.5 x (1 + tanh(u)).
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
