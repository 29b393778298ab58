// matmul (engine/kernels/gemm.ts) against a float64 reference.
//
// Tolerance: with float32 accumulation the error of each output is at most
// about (K+1) * 2^-24 * S, where S = sum_k |a_ik| |b_kj| + |bias_j| (the
// classic bound gamma_K for a dot product, +1 for the bias add). A float16 /
// bfloat16 output is then rounded once more: relative 2^-11 / 2^-8 of the
// value (plus 2^-24 absolute for float16 subnormals). Inputs in float16 /
// bfloat16 are generated already rounded to that dtype, so the reference
// uses exactly the values the kernel sees.
//
// Instruction-set paths: this file runs on the best path of the machine and,
// from the top-level process, spawns itself with VRAMLAB_CPU=avx2 and
// VRAMLAB_CPU=portable (cpu_features caps the level), so all three GEMM
// builds run the same checks. Shapes that cross every block edge are derived
// from gemmInfo() of the path under test.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { native, type NativeStorage } from "../../engine/native-binding.js";
import { matmul, gemmF32, gemmInfo } from "../../engine/kernels/gemm.js";
import type { DType } from "../../engine/dtype.js";

type FloatDType = "float32" | "float16" | "bfloat16";
const FLOAT_DTYPES: FloatDType[] = ["float32", "float16", "bfloat16"];

// ---- float16 / bfloat16 encoding (round to nearest even) ----
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function bf16Bits(v: number): number {
  f32[0] = v;
  const u = u32[0];
  return Math.floor((u + 0x7fff + ((u >>> 16) & 1)) / 65536) & 0xffff;
}
function bf16Value(h: number): number {
  u32[0] = h << 16;
  return f32[0];
}
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
function f16Bits(v: number): number {
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a >= 65520) return sign | 0x7c00;
  if (a < 2 ** -14) return sign | roundHalfEven(a / 2 ** -24);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  let m = roundHalfEven((a / 2 ** e - 1) * 1024);
  if (m === 1024) { e++; m = 0; }
  if (e + 15 >= 31) return sign | 0x7c00;
  return sign | ((e + 15) << 10) | m;
}
function f16Value(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
/** v rounded to the precision of d */
function roundTo(d: FloatDType, v: number): number {
  if (d === "float32") return Math.fround(v);
  return d === "float16" ? f16Value(f16Bits(v)) : bf16Value(bf16Bits(v));
}

// ---- storages ----
function store(d: FloatDType, values: Float64Array): NativeStorage {
  const bytes = values.length * (d === "float32" ? 4 : 2);
  const s = new native.Storage(bytes);
  if (d === "float32") native.write(s, 0, Float32Array.from(values));
  else native.write(s, 0, Uint16Array.from(values, (v) => (d === "float16" ? f16Bits(v) : bf16Bits(v))));
  return s;
}
function load(d: FloatDType, s: NativeStorage, n: number): Float64Array {
  const buf = native.read(s, 0, n * (d === "float32" ? 4 : 2));
  if (d === "float32") return Float64Array.from(new Float32Array(buf));
  return Float64Array.from(new Uint16Array(buf), (h) => (d === "float16" ? f16Value(h) : bf16Value(h)));
}

let seed = 12345;
function rand(): number {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 2 ** 32;
}
function randomValues(d: FloatDType, n: number): Float64Array {
  return Float64Array.from({ length: n }, () => roundTo(d, rand() * 2 - 1));
}

interface Case {
  M: number; N: number; K: number; transB: boolean;
  aD: FloatDType; bD: FloatDType; outD: FloatDType; biasD: FloatDType | null;
}

function runAndCheck(c: Case): void {
  const { M, N, K, transB, aD, bD, outD, biasD } = c;
  const a = randomValues(aD, M * K);
  const b = randomValues(bD, K * N);
  const bias = biasD ? randomValues(biasD, N) : null;
  const sa = store(aD, a), sb = store(bD, b), sbias = biasD && bias ? store(biasD, bias) : null;
  const sout = store(outD, new Float64Array(M * N).fill(7)); // stale data must be overwritten
  try {
    matmul(sout, outD, sa, aD, sb, bD, sbias, biasD ?? "float32", M, N, K, transB);
    const out = load(outD, sout, M * N);
    const outUnit = outD === "float32" ? 0 : outD === "float16" ? 2 ** -11 : 2 ** -8;
    const outAbs = outD === "float16" ? 2 ** -24 : 0;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let ref = bias ? bias[j] : 0;
        let mag = bias ? Math.abs(bias[j]) : 0;
        for (let k = 0; k < K; k++) {
          const p = a[i * K + k] * (transB ? b[j * K + k] : b[k * N + j]);
          ref += p;
          mag += Math.abs(p);
        }
        const accTol = (K + 1) * 2 ** -24 * mag;
        const tol = accTol + outUnit * (Math.abs(ref) + accTol) + outAbs;
        const got = out[i * N + j];
        if (!(Math.abs(got - ref) <= tol)) {
          assert.fail(`${JSON.stringify(c)}: out[${i},${j}] = ${got}, expected ${ref} +- ${tol}`);
        }
      }
    }
  } finally {
    for (const s of [sa, sb, sbias, sout]) s?.free();
  }
}

const info = gemmInfo();
const expectedLevel = process.env.VRAMLAB_GEMM_EXPECT_LEVEL;

test(`gemm path under test: ${info.level}`, () => {
  if (expectedLevel) assert.equal(info.level, expectedLevel);
  assert.equal(info.level, native.cpuInfo().level);
  assert.ok(info.mr > 0 && info.nr > 0 && info.kc > 0 && info.nc % info.nr === 0 && info.mc % info.mr === 0);
});

test("odd and tiny shapes, float32, transB / bias variations", () => {
  for (const [M, N, K] of [[1, 1, 1], [7, 13, 5], [65, 129, 33], [1, 300, 70], [4, 2 * info.nr + 1, 2 * info.kc + 3], [31, 1, 17], [3, 5, 0]]) {
    for (const transB of [false, true])
      for (const biasD of [null, "float32"] as const)
        runAndCheck({ M, N, K, transB, aD: "float32", bD: "float32", outD: "float32", biasD });
  }
});

test("every combination of float32/float16/bfloat16 for a, b, bias and out", () => {
  for (const aD of FLOAT_DTYPES)
    for (const bD of FLOAT_DTYPES)
      for (const outD of FLOAT_DTYPES)
        for (const transB of [false, true]) {
          runAndCheck({ M: 23, N: 37, K: 41, transB, aD, bD, outD, biasD: null });
          runAndCheck({ M: 9, N: 45, K: 19, transB, aD, bD, outD, biasD: FLOAT_DTYPES[(aD.length + bD.length + outD.length) % 3] });
          // M <= 4 with transB takes the dot-product (GEMV) path.
          runAndCheck({ M: 3, N: 13, K: 37, transB, aD, bD, outD, biasD: FLOAT_DTYPES[(aD.length + outD.length) % 3] });
        }
});

test("shapes crossing every block edge (micro-tile, KC, NC, MC)", () => {
  const { mr, nr, kc, nc, mc } = info;
  // Rows past MC (with a partial micro-panel), K and N kept small.
  const tall = { M: mc + mr + 1, N: nr + 3, K: 37 };
  // Columns past NC and K past two KC blocks, with partial micro-tiles.
  const wide = { M: 2 * mr + 1, N: nc + nr + 3, K: 2 * kc + 7 };
  for (const shape of [tall, wide]) {
    runAndCheck({ ...shape, transB: true, aD: "float32", bD: "float32", outD: "float32", biasD: "float32" });
    runAndCheck({ ...shape, transB: false, aD: "float32", bD: "float32", outD: "float32", biasD: null });
    // Non-float32 outputs with K > KC accumulate in a float scratch first.
    runAndCheck({ ...shape, transB: true, aD: "bfloat16", bD: "bfloat16", outD: "bfloat16", biasD: "bfloat16" });
    runAndCheck({ ...shape, transB: false, aD: "float16", bD: "float32", outD: "float16", biasD: null });
  }
  // Exactly at / just below the block sizes.
  runAndCheck({ M: mr, N: nr, K: kc, transB: true, aD: "float32", bD: "bfloat16", outD: "float32", biasD: null });
  runAndCheck({ M: mr - 1, N: nc - 1, K: kc - 1, transB: false, aD: "float32", bD: "float16", outD: "float32", biasD: "float32" });
});

test("gemmF32 on strided views, with and without accumulate", () => {
  const { mr, nr, kc } = info;
  for (const [M, N, K] of [[5, 7, 3], [2, 9, 21], [2 * mr + 3, 2 * nr + 5, kc + 11]]) {
    for (const transB of [false, true])
      for (const accumulate of [false, true]) {
        // Each operand sits at an offset inside a larger buffer with padded rows.
        const lda = K + 3, ldb = (transB ? K : N) + 2, ldc = N + 5;
        const aOff = 7, bOff = 3, cOff = 11;
        const a = randomValues("float32", aOff + M * lda), b = randomValues("float32", bOff + (transB ? N : K) * ldb);
        const c0 = randomValues("float32", cOff + M * ldc + 4);
        const sa = store("float32", a), sb = store("float32", b), sc = store("float32", c0);
        try {
          gemmF32(M, N, K, sa, aOff, lda, sb, bOff, ldb, transB, sc, cOff, ldc, accumulate);
          const c = load("float32", sc, c0.length);
          for (let idx = 0; idx < c0.length; idx++) {
            const rel = idx - cOff, i = Math.floor(rel / ldc), j = rel - i * ldc;
            if (rel < 0 || i >= M || j >= N) {
              assert.equal(c[idx], c0[idx], `element ${idx} outside the c view changed`);
              continue;
            }
            let ref = accumulate ? c0[idx] : 0, mag = Math.abs(ref);
            for (let k = 0; k < K; k++) {
              const p = a[aOff + i * lda + k] * (transB ? b[bOff + j * ldb + k] : b[bOff + k * ldb + j]);
              ref += p;
              mag += Math.abs(p);
            }
            const tol = (K + 1) * 2 ** -24 * mag;
            assert.ok(Math.abs(c[idx] - ref) <= tol, `c[${i},${j}] = ${c[idx]}, expected ${ref} +- ${tol} (M=${M} N=${N} K=${K} transB=${transB} accumulate=${accumulate})`);
          }
        } finally {
          for (const s of [sa, sb, sc]) s.free();
        }
      }
  }
  const s = new native.Storage(64 * 4);
  try {
    assert.throws(() => gemmF32(4, 4, 4, s, 0, 4, s, 16, 4, false, s, 60, 4, false), RangeError);
    assert.throws(() => gemmF32(4, 4, 4, s, 0, 3, s, 16, 4, false, s, 32, 4, false), /leading dimension/);
    assert.throws(() => gemmF32(4, 4, 4, s, 0, 4, s, 16, 4, false, s, 8, 4, false), /overlap/);
  } finally {
    s.free();
  }
});

test("results do not depend on the thread count", () => {
  const M = 97, N = 3 * info.nr + 5, K = info.kc + 9;
  const a = randomValues("float32", M * K), b = randomValues("float32", N * K);
  const sa = store("float32", a), sb = store("float32", b);
  const s1 = new native.Storage(M * N * 4), s2 = new native.Storage(M * N * 4);
  const threads = native.getNumThreads();
  try {
    native.setNumThreads(1);
    matmul(s1, "float32", sa, "float32", sb, "float32", null, "float32", M, N, K, true);
    native.setNumThreads(Math.max(2, threads));
    matmul(s2, "float32", sa, "float32", sb, "float32", null, "float32", M, N, K, true);
    assert.deepEqual(new Uint8Array(native.read(s1, 0, M * N * 4)), new Uint8Array(native.read(s2, 0, M * N * 4)));
  } finally {
    native.setNumThreads(threads);
    for (const s of [sa, sb, s1, s2]) s.free();
  }
});

test("bad arguments give JS errors, not crashes", () => {
  const M = 4, N = 5, K = 6;
  const a = new native.Storage(M * K * 4), b = new native.Storage(K * N * 4), out = new native.Storage(M * N * 4);
  const small = new native.Storage(M * N * 4 - 4), bias = new native.Storage(N * 2 - 2);
  const dead = new native.Storage(M * K * 4);
  dead.free();
  const f = "float32" as DType;
  try {
    assert.throws(() => matmul(small, f, a, f, b, f, null, f, M, N, K, false), (e: unknown) => e instanceof RangeError && /out needs/.test(e.message));
    assert.throws(() => matmul(out, f, a, f, b, f, null, f, M, N, K + 1, false), (e: unknown) => e instanceof RangeError && /a needs/.test(e.message));
    assert.throws(() => matmul(out, f, a, f, b, f, null, f, M, N + 1, K, true), RangeError);
    assert.throws(() => matmul(out, f, a, f, b, f, bias, "bfloat16", M, N, K, true), (e: unknown) => e instanceof RangeError && /bias needs/.test(e.message));
    assert.throws(() => matmul(out, f, dead, f, b, f, null, f, M, N, K, false), /disposed/);
    assert.throws(() => matmul(out, f, a, "int8", b, f, null, f, M, N, K, false), TypeError);
    assert.throws(() => matmul(a, f, a, f, b, f, null, f, M, N, K, false), /must not share/);
    assert.throws(() => native.matmul(out, 0, a, 0, b, 0, null, 0, -1, N, K, false), TypeError);
    assert.throws(() => native.matmul(out, 0, a, 0, b, 0, null, 0, 2 ** 40, 2 ** 40, K, false), RangeError);
  } finally {
    for (const s of [a, b, out, small, bias]) s.free();
  }
});

// The other instruction-set builds, each in a child process (the level is fixed at load).
if (!process.env.VRAMLAB_CPU) {
  const order = ["portable", "avx2", "avx512"];
  const best = order.indexOf(native.cpuInfo().level);
  for (const level of ["avx2", "portable"]) {
    test(`same checks on the ${level} build (child process with VRAMLAB_CPU=${level})`, () => {
      const expect = order[Math.min(order.indexOf(level), best)];
      // NODE_TEST_CONTEXT would make the child report to this runner instead of stdout.
      const { NODE_TEST_CONTEXT: _, ...env } = process.env;
      const r = spawnSync(process.execPath, ["--test", fileURLToPath(import.meta.url)], {
        env: { ...env, VRAMLAB_CPU: level, VRAMLAB_GEMM_EXPECT_LEVEL: expect },
        encoding: "utf8",
      });
      assert.equal(r.status, 0, `child test run failed:\n${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, new RegExp(`gemm path under test: ${expect}`));
    });
  }
}
