// The cost model of a simulated accelerator: how long a kernel or a copy
// takes on a hardware profile. A roofline with shape-dependent efficiency:
//
//   kernel = launch + max(compute, memory)
//   compute = flops / (peak[rate] * efficiency)
//     GEMM-like ops (matmul, quantized matmul, attention's two GEMMs):
//       efficiency(m, n, k) = e0 * g(m) * g(n) * g(k),  g(x) = x / (x + 128)
//       with e0 chosen so efficiency(8192, 8192, 8192) equals the profile's measured (or
//       assumed) matmulEfficiency: small dimensions cannot fill the 128-wide tiles.
//     other ops (elementwise, norms): efficiency = matmulEfficiency, at the fp32 (CUDA core) peak
//   memory = (bytes + 1 MiB) / (bandwidth * memoryEfficiency)
//     bytes read + written in device memory; the 1 MiB term is the bandwidth ramp (a kernel
//     moving 1 MiB reaches half the streaming rate)
//   host-link copy = launch + bytes / (pinned or pageable rate)
//
// The math rate follows the operands: bf16/fp16 -> bf16 peak, fp32 -> fp32 peak, int8 x int8 ->
// int8 peak, fp8 x fp8 (dynamic activation quantization) -> fp8 peak (bf16 where the profile has
// no fp8 tensor cores). A weight-only quantized GEMM runs at its activations' rate and reads the
// quantized weight bytes.
import type { SimProfile } from "./profiles.js";
import type { SpanCategory, Span } from "../stream.js";

export type MathRate = "fp32" | "bf16" | "fp8" | "int8";

/** Size at which one GEMM dimension reaches half its efficiency (one 128-wide tile). */
export const GEMM_HALF_SIZE = 128;
/** Bytes at which a memory-bound kernel reaches half its streaming bandwidth. */
export const MEMORY_RAMP_BYTES = 1024 * 1024;
/** The GEMM size the profiles' matmulEfficiency was measured at. */
export const GEMM_CALIBRATION_SIZE = 8192;

/** What one kernel does. */
export interface KernelCost {
  op: string;
  category: Exclude<SpanCategory, "h2d" | "d2h">;
  flops: number;
  /** bytes read + written in device memory */
  bytes: number;
  rate: MathRate;
  /** GEMM problem size (attention: m = Lq, n = Lk, k = headDim) for the shape-dependent efficiency */
  gemm?: { m: number; n: number; k: number };
}

export interface KernelTiming {
  durationMs: number;
  computeMs: number;
  memoryMs: number;
  launchMs: number;
  bound: Span["bound"];
  /** fraction of the peak the compute part runs at */
  efficiency: number;
  /** the rate actually used (fp8 falls back to bf16 without fp8 units) */
  rate: MathRate;
}

function halfSaturation(x: number, half: number): number {
  return x <= 0 ? 0 : x / (x + half);
}

export class CostModel {
  /** e0: scales the shape factors so an 8192^3 GEMM runs at matmulEfficiency */
  readonly gemmScale: number;

  constructor(readonly profile: SimProfile) {
    const g = halfSaturation(GEMM_CALIBRATION_SIZE, GEMM_HALF_SIZE);
    this.gemmScale = profile.matmulEfficiency.value / (g * g * g);
  }

  /** Peak FLOP/s for a math rate, and the rate that provides it. */
  peak(rate: MathRate): { flopsPerSecond: number; rate: MathRate } {
    const p = this.profile.matmulPeak;
    if (rate === "fp8") return p.fp8 ? { flopsPerSecond: p.fp8.value, rate } : { flopsPerSecond: p.bf16.value, rate: "bf16" };
    return { flopsPerSecond: p[rate].value, rate };
  }

  /** Fraction of the peak a GEMM of this shape achieves: e0 * g(m) g(n) g(k), at most 1. */
  gemmEfficiency(m: number, n: number, k: number): number {
    const e = this.gemmScale * halfSaturation(m, GEMM_HALF_SIZE) * halfSaturation(n, GEMM_HALF_SIZE) * halfSaturation(k, GEMM_HALF_SIZE);
    return Math.min(1, e);
  }

  /** Milliseconds a kernel that moves `bytes` of device memory needs for the traffic alone. */
  memoryMs(bytes: number): number {
    if (bytes <= 0) return 0;
    return ((bytes + MEMORY_RAMP_BYTES) / (this.profile.memoryBandwidth.value * this.profile.memoryEfficiency.value)) * 1e3;
  }

  get launchMs(): number {
    return this.profile.launchOverhead.value * 1e3;
  }

  kernel(cost: KernelCost): KernelTiming {
    const { flopsPerSecond, rate } = this.peak(cost.rate);
    const efficiency = cost.gemm ? this.gemmEfficiency(cost.gemm.m, cost.gemm.n, cost.gemm.k) : this.profile.matmulEfficiency.value;
    const computeMs = cost.flops > 0 && efficiency > 0 ? (cost.flops / (flopsPerSecond * efficiency)) * 1e3 : 0;
    const memoryMs = this.memoryMs(cost.bytes);
    const launchMs = this.launchMs;
    const bound: Span["bound"] = Math.max(computeMs, memoryMs) < launchMs ? "launch" : computeMs >= memoryMs ? "compute" : "memory";
    return { durationMs: launchMs + Math.max(computeMs, memoryMs), computeMs, memoryMs, launchMs, bound, efficiency, rate };
  }

  /** Bytes/s over the host link from pinned or pageable host memory. */
  hostLinkRate(pinned: boolean): number {
    return (pinned ? this.profile.hostLinkPinned : this.profile.hostLinkPageable).value;
  }

  /** A host<->device copy: launch + bytes / rate. */
  hostCopyMs(bytes: number, pinned: boolean, rate = this.hostLinkRate(pinned)): number {
    return this.launchMs + (bytes / rate) * 1e3;
  }
}
