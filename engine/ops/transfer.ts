// Moving tensors between devices and dtypes, and reading values back.
import { dtypeInfo, type DType } from "../dtype.js";
import { getDevice, type Device, type DeviceSpec } from "../device.js";
import type { Backend, TransferInfo } from "../backend.js";
import { isHostDevice } from "../host-memory.js";
import { native } from "../native-binding.js";
import { Tensor, formatShape } from "../tensor.js";
import { keep } from "../scope.js";
import { sameDevice } from "./util.js";

export interface ToOptions {
  device?: DeviceSpec;
  dtype?: DType;
  /** clamp to the target's finite range instead of PyTorch's overflow to inf/NaN (fp8) */
  saturate?: boolean;
  /** memory attribution name for the result (defaults to the source's owner) */
  owner?: string;
  /**
   * Don't make the caller wait for a device copy: with pinned host memory the copy is queued on
   * the current stream and overlaps other work (order it with events). Pageable copies are
   * always synchronous.
   */
  nonBlocking?: boolean;
  /** a result in host memory is allocated pinned (page-locked) */
  pin?: boolean;
}

/** A new tensor with the same values in another dtype, on the same device. */
export function cast(x: Tensor, dtype: DType, options: { saturate?: boolean; owner?: string } = {}): Tensor {
  dtypeInfo(dtype);
  const out = Tensor.empty(x.shape, dtype, x.device, options.owner ?? x.owner);
  x.device.backend.cast(out, 0, x, 0, x.numel, options.saturate ?? false);
  return out;
}

/**
 * Tells the devices on both ends about a copy, so a device that models time (sim) queues it on
 * its current stream at the pinned or pageable rate.
 */
function modelTransfer(src: Tensor, dst: Tensor, nonBlocking: boolean): void {
  const host = isHostDevice(src.device) ? src : isHostDevice(dst.device) ? dst : null;
  const info: TransferInfo = { src: src.device, dst: dst.device, bytes: src.nbytes, hostPinned: host?.isPinned ?? false, nonBlocking, owner: dst.owner };
  src.device.backend.modelTransfer?.(info);
  if (dst.device !== src.device) dst.device.backend.modelTransfer?.(info);
}

/** A backend whose memory the host cannot address (cuda): it runs copies to and from host memory itself. */
export type TransferBackend = Backend & Required<Pick<Backend, "transfer">>;

function transferBackendOf(device: Device): TransferBackend | null {
  return device.backend.transfer ? (device.backend as TransferBackend) : null;
}

/**
 * How moveBytes copies between two devices: "host" when the host addresses both memories (cpu,
 * meta, sim: their data is host memory), "device" through the backend of the side the host cannot
 * address (cuda, either direction), "staged" through host memory between two such devices with
 * separate memories (cuda:0 -> cuda:1; no peer copies yet).
 */
export type ByteRoute = { kind: "host" } | { kind: "device"; backend: TransferBackend } | { kind: "staged" };

export function byteRoute(src: Device, dst: Device): ByteRoute {
  const s = transferBackendOf(src);
  const d = transferBackendOf(dst);
  if (!s && !d) return { kind: "host" };
  if (s && d && s !== d) return { kind: "staged" };
  return { kind: "device", backend: (d ?? s)! };
}

function newTarget(x: Tensor, dst: Device, owner: string, pin: boolean): Tensor {
  const out = Tensor.empty(x.shape, x.dtype, dst, owner);
  if (pin) out.pin();
  return out;
}

/** Copies raw bytes of src into a new tensor on `device` (same dtype). */
function moveBytes(x: Tensor, device: DeviceSpec, owner: string, options: { nonBlocking?: boolean; pin?: boolean } = {}): Tensor {
  const dst = getDevice(device);
  if (!x.device.hasData && dst.hasData) {
    throw new Error(
      `cannot move ${x} to ${dst.name}: the ${x.device.name === "meta" ? "meta device" : `dataless device ${x.device.name}`} holds shapes only, there are no values to copy. ` +
        `Create or load the model directly on ${dst.name} (e.g. vl.models.flux(preset, {device: "${dst.name}"}) or vl.loadModel(path, {device: "${dst.name}"})).`,
    );
  }
  const out = newTarget(x, dst, owner, options.pin ?? false);
  modelTransfer(x, out, options.nonBlocking ?? false);
  if (!dst.hasData || x.nbytes === 0) return out;
  const route = byteRoute(x.device, dst);
  if (route.kind === "device") {
    route.backend.transfer(out, x, x.nbytes, options.nonBlocking ?? false);
    return out;
  }
  const sn = x.native;
  const dn = out.native;
  if (route.kind === "host" && sn && dn) native.copyBytes(dn, 0, sn, 0, x.nbytes);
  else out.device.backend.write(out, 0, x.device.backend.read(x, 0, x.nbytes));
  return out;
}

/**
 * t.to(device) / t.to({device, dtype}): a new tensor (a view sharing memory when nothing changes,
 * so disposing either never frees the other's data).
 */
export function to(x: Tensor, target: DeviceSpec | ToOptions): Tensor {
  const opts: ToOptions = typeof target === "string" || (typeof target === "object" && target !== null && "backend" in target) ? { device: target as DeviceSpec } : (target as ToOptions);
  const dev = opts.device !== undefined ? getDevice(opts.device) : x.device;
  const dtype = opts.dtype ?? x.dtype;
  const owner = opts.owner ?? x.owner;
  if (opts.pin && !isHostDevice(dev)) throw new TypeError(`to(): pin applies to results in host memory, but the target is ${dev.name}`);
  if (dev === x.device && dtype === x.dtype) return opts.pin ? x.reshape(x.shape).pin() : x.reshape(x.shape);
  if (dtype === x.dtype) return moveBytes(x, dev, owner, opts);
  if (dev === x.device) {
    const converted = cast(x, dtype, { saturate: opts.saturate, owner });
    return opts.pin ? converted.pin() : converted;
  }
  // Convert where the data is, then move: the destination never holds two copies.
  const converted = keep(cast(x, dtype, { saturate: opts.saturate, owner }));
  if (x.isPinned) converted.pin(); // converted in pinned staging memory: the copy still runs at the pinned rate
  try {
    return moveBytes(converted, dev, owner, opts);
  } finally {
    converted.dispose();
  }
}

/** The raw bytes of a tensor (a copy). */
export function readBytes(x: Tensor): Uint8Array {
  return x.device.backend.read(x, 0, x.nbytes);
}

/** Values as a Float32Array (converted from any dtype). */
export function toFloat32Array(x: Tensor): Float32Array {
  if (x.dtype === "float32") {
    const b = readBytes(x);
    return new Float32Array(b.buffer, b.byteOffset, x.numel);
  }
  const info = dtypeInfo(x.dtype);
  if (!info.isFloat && info.bits === 32) return Float32Array.from(toInt32Array(x));
  const f = keep(cast(x, "float32", { owner: "readback" }));
  try {
    return toFloat32Array(f);
  } finally {
    f.dispose();
  }
}

/** Values of an integer tensor as an Int32Array. */
export function toInt32Array(x: Tensor): Int32Array {
  if (x.dtype === "int32") {
    const b = readBytes(x);
    return new Int32Array(b.buffer, b.byteOffset, x.numel);
  }
  if (dtypeInfo(x.dtype).isFloat) throw new TypeError(`toInt32Array: ${x} is a float tensor; use toFloat32Array()`);
  const i = keep(cast(x, "int32", { owner: "readback" }));
  try {
    return toInt32Array(i);
  } finally {
    i.dispose();
  }
}

/** A copy with its own storage. */
export function clone(x: Tensor, owner?: string): Tensor {
  const out = Tensor.empty(x.shape, x.dtype, x.device, owner ?? x.owner);
  x.device.backend.copyBytes(out, 0, x, 0, x.nbytes);
  return out;
}

/** Overwrites dst's values with src's (same shape; dtype converted; same device). */
export function copyInto(dst: Tensor, src: Tensor): void {
  sameDevice("copyInto", dst, src);
  if (dst.numel !== src.numel) throw new TypeError(`copyInto: ${formatShape(src.shape)} does not fit ${formatShape(dst.shape)}`);
  if (dst.dtype === src.dtype) dst.device.backend.copyBytes(dst, 0, src, 0, src.nbytes);
  else dst.device.backend.cast(dst, 0, src, 0, src.numel, false);
}
