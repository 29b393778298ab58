// Moving tensors between devices and dtypes, and reading values back.
import { dtypeInfo, type DType } from "../dtype.js";
import { getDevice, type DeviceSpec } from "../device.js";
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
}

/** A new tensor with the same values in another dtype, on the same device. */
export function cast(x: Tensor, dtype: DType, options: { saturate?: boolean; owner?: string } = {}): Tensor {
  dtypeInfo(dtype);
  const out = Tensor.empty(x.shape, dtype, x.device, options.owner ?? x.owner);
  x.device.backend.cast(out, 0, x, 0, x.numel, options.saturate ?? false);
  return out;
}

/** Copies raw bytes of src into a new tensor on `device` (same dtype). */
function moveBytes(x: Tensor, device: DeviceSpec, owner: string): Tensor {
  const dst = getDevice(device);
  if (!x.device.hasData && dst.hasData) {
    throw new Error(
      `cannot move ${x} to ${dst.name}: the meta device holds shapes only, there are no values to copy. ` +
        `Create or load the model directly on ${dst.name} (e.g. vl.models.flux(preset, {device: "${dst.name}"}) or vl.loadModel(path, {device: "${dst.name}"})).`,
    );
  }
  const out = Tensor.empty(x.shape, x.dtype, dst, owner);
  if (!dst.hasData || x.nbytes === 0) return out;
  const sn = x.native;
  const dn = out.native;
  if (sn && dn) native.copyBytes(dn, 0, sn, 0, x.nbytes);
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
  if (dev === x.device && dtype === x.dtype) return x.reshape(x.shape);
  if (dtype === x.dtype) return moveBytes(x, dev, owner);
  if (dev === x.device) return cast(x, dtype, { saturate: opts.saturate, owner });
  // Convert where the data is, then move: the destination never holds two copies.
  const converted = keep(cast(x, dtype, { saturate: opts.saturate, owner }));
  try {
    return moveBytes(converted, dev, owner);
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
