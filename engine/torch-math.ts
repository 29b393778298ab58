// Float32 functions that reproduce PyTorch's CPU results bit for bit where a
// host-side computation must match them. PyTorch's vectorized float32 exp is
// SLEEF's expf_u10 (FMA build), which differs from a correctly rounded exp by
// one ulp for some inputs; in Flux's sinusoidal timestep embedding a 1-ulp
// frequency change shifts sin(3500 * f) by ~2e-4 and the model output by ~1e-5.

const f = Math.fround;

/** fused multiply-add in float32: the product of two float32s is exact in float64. */
function fmaf(a: number, b: number, c: number): number {
  return f(a * b + c);
}

function rintEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const R_LN2 = f(1.442695040888963407359924681001892137426645954152985934135449406931);
const L2U = f(-0.693145751953125);
const L2L = f(-1.428606765330187045e-6);
const C = [
  0.000198527617612853646278381, 0.00139304355252534151077271, 0.00833336077630519866943359,
  0.0416664853692054748535156, 0.166666671633720397949219, 0.5,
].map(f);

/** exp(d) for a float32 d, as PyTorch's CPU kernel (SLEEF xexpf) computes it. */
export function torchExpF32(d: number): number {
  d = f(d);
  if (d < -104) return 0;
  if (d > 100) return Infinity;
  const q = rintEven(f(d * R_LN2));
  let s = fmaf(q, L2U, d);
  s = fmaf(q, L2L, s);
  let u = C[0]!;
  for (let i = 1; i < C.length; i++) u = fmaf(u, s, C[i]!);
  u = f(1 + fmaf(f(s * s), u, s));
  return f(u * 2 ** q);
}
