// Tensor: shape + dtype + device + a storage owned by the device's backend.
// Data is contiguous row-major; reshape views share the storage (counted
// references). Memory is released by dispose() or by the scope that made
// the tensor, never by the garbage collector, so peaks are deterministic.
import { byteSize, dtypeInfo, type DType } from "./dtype.js";
import { Device, getDevice, type DeviceSpec } from "./device.js";
import type { NativeStorage } from "./native-binding.js";
import { currentContext } from "./context.js";
import { registerInScope } from "./scope.js";
import { to as toOp, toFloat32Array as readFloat32, toInt32Array as readInt32, type ToOptions } from "./ops/transfer.js";
import { isHostDevice, notePinned } from "./host-memory.js";

/**
 * Page-locks host memory for an accelerator's driver. engine/backends/cuda.ts installs one
 * (cudaHostRegister); without one, or without a GPU, pin() only marks the storage, which is all
 * cpu and the simulated devices need.
 */
export interface HostPinHandler {
  /** Page-locks the storage's bytes in place; false when there is nothing to do (no GPU present). */
  register(storage: NativeStorage): boolean;
  /** Undoes register() before the bytes are freed or unpinned. */
  unregister(storage: NativeStorage): void;
}

let hostPinHandler: HostPinHandler | null = null;

/** Installs the driver hook pin() and unpin() call (null removes it). */
export function setHostPinHandler(handler: HostPinHandler | null): void {
  hostPinHandler = handler;
}

/** One allocation on a device, shared by a tensor and its reshape views. */
export class Storage {
  private refs = 1;
  private pinnedFlag = false;
  /** the handler that page-locked the bytes, so unpin undoes exactly what pin did */
  private lockedBy: HostPinHandler | null = null;
  constructor(
    readonly device: Device,
    readonly nbytes: number,
    readonly native: NativeStorage | null,
    readonly allocId: number,
  ) {}
  static allocate(device: Device, nbytes: number, owner: string, zero = false): Storage {
    // the backend allocates first: a device that is full throws before the tracker records anything
    const native = device.backend.allocate(nbytes, zero, owner);
    const id = device.memory.allocate(nbytes, owner);
    return new Storage(device, nbytes, native, id);
  }
  retain(): void {
    this.refs++;
  }
  release(): void {
    if (this.refs <= 0) return;
    if (--this.refs === 0) {
      try {
        if (this.pinnedFlag) this.unpin();
      } finally {
        this.device.backend.release(this.native);
        this.device.memory.free(this.allocId);
      }
    }
  }
  get released(): boolean {
    return this.refs <= 0;
  }
  /** page-locked host memory (copies from it to an accelerator run asynchronously at the full link rate) */
  get pinned(): boolean {
    return this.pinnedFlag;
  }
  /** Whether a GPU driver page-locked the bytes (cudaHostRegister); false where pin() only marks them (no GPU, meta). */
  get pageLocked(): boolean {
    return this.lockedBy !== null;
  }
  /** Pins in place (cudaHostRegister where a GPU is present): no copy. Host storages only (cpu, or meta as the dataless host). */
  pin(): void {
    if (this.pinnedFlag) return;
    if (this.released) throw new Error("pin(): the storage was released");
    if (!isHostDevice(this.device)) throw new TypeError(`pin(): only host memory can be pinned; this tensor is on ${this.device.name}, not "cpu" (or "meta" for dataless planning)`);
    const handler = hostPinHandler;
    // registers first: if the driver refuses, the storage stays pageable and unchanged
    if (handler && this.native && this.nbytes > 0 && handler.register(this.native)) this.lockedBy = handler;
    this.pinnedFlag = true;
    notePinned(this.device, this.nbytes, 1);
  }
  unpin(): void {
    if (!this.pinnedFlag) return;
    this.pinnedFlag = false;
    notePinned(this.device, this.nbytes, -1);
    const handler = this.lockedBy;
    this.lockedBy = null;
    if (handler && this.native) handler.unregister(this.native);
  }
}

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function checkShape(shape: readonly number[], what = "shape"): number[] {
  if (!Array.isArray(shape)) throw new TypeError(`${what} must be an array of non-negative integers, got ${String(shape)}`);
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new TypeError(`${what} must contain non-negative integers, got [${shape.join(", ")}]`);
  }
  return [...shape];
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

let nextTensorId = 1;

export class Tensor {
  readonly id = nextTensorId++;
  readonly shape: readonly number[];
  private storageRef: Storage | null;

  constructor(shape: readonly number[], readonly dtype: DType, storage: Storage) {
    this.shape = Object.freeze([...shape]);
    this.storageRef = storage;
    registerInScope(this);
  }

  /** A new uninitialised tensor; owner names it in memory attribution. */
  static empty(shape: readonly number[], dtype: DType, device: DeviceSpec, owner?: string, zero = false): Tensor {
    const dev = getDevice(device);
    const s = checkShape(shape);
    dtypeInfo(dtype);
    const storage = Storage.allocate(dev, byteSize(dtype, numelOf(s)), owner ?? defaultOwner(), zero);
    return new Tensor(s, dtype, storage);
  }

  get device(): Device {
    return this.storage.device;
  }
  get numel(): number {
    return numelOf(this.shape);
  }
  get nbytes(): number {
    return byteSize(this.dtype, this.numel);
  }
  get ndim(): number {
    return this.shape.length;
  }
  get isDisposed(): boolean {
    return this.storageRef === null;
  }

  /** The storage; throws a clear error when the tensor was disposed. */
  get storage(): Storage {
    if (!this.storageRef) throw new Error(`tensor ${formatShape(this.shape)} ${this.dtype} was disposed; it cannot be used any more`);
    return this.storageRef;
  }

  /** The backend's storage object (null on meta). */
  get native(): NativeStorage | null {
    return this.storage.native;
  }

  /** Owner of the memory, as shown by memory attribution. */
  get owner(): string {
    return this.storage.device.memory.ownerOf(this.storage.allocId) ?? "";
  }
  set owner(name: string) {
    this.storage.device.memory.setOwner(this.storage.allocId, name);
  }

  /** Whether the storage is pinned (page-locked) host memory. */
  get isPinned(): boolean {
    return this.storage.pinned;
  }
  /**
   * Pins this tensor's host storage in place and returns this tensor (views share the storage,
   * so they are pinned too). Host->device copies from pinned memory are asynchronous and run at
   * the full link rate; see hostMemory() for pinned vs pageable bytes.
   */
  pin(): this {
    this.storage.pin();
    return this;
  }
  /** Returns the storage to pageable memory. */
  unpin(): this {
    this.storage.unpin();
    return this;
  }

  /** Frees this tensor's memory now (views keep the storage alive until they are disposed too). */
  dispose(): void {
    if (!this.storageRef) return;
    const s = this.storageRef;
    this.storageRef = null;
    s.release();
  }

  /** A view with a new shape over the same storage (-1 infers one dimension). */
  reshape(shape: readonly number[]): Tensor {
    const resolved = inferShape(shape, this.numel, this.shape);
    const s = this.storage;
    s.retain();
    return new Tensor(resolved, this.dtype, s);
  }

  /** A tensor on another device and/or dtype (a view when nothing changes). */
  to(target: DeviceSpec | ToOptions): Tensor {
    return toOp(this, target);
  }

  /** The values as float32 (a copy; converted from any dtype). */
  toFloat32Array(): Float32Array {
    return readFloat32(this);
  }

  /** The values of an integer tensor (a copy). */
  toInt32Array(): Int32Array {
    return readInt32(this);
  }

  toString(): string {
    return `Tensor(${formatShape(this.shape)}, ${this.dtype}, ${this.isDisposed ? "disposed" : this.device.name})`;
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}

function defaultOwner(): string {
  const c = currentContext();
  return c.modulePath ? `${c.modulePath}:activation` : "activation";
}

export function inferShape(shape: readonly number[], numel: number, from: readonly number[]): number[] {
  const out = [...shape];
  let infer = -1;
  let known = 1;
  for (let i = 0; i < out.length; i++) {
    const d = out[i]!;
    if (d === -1) {
      if (infer >= 0) throw new TypeError(`reshape ${formatShape(from)} -> ${formatShape(shape)}: only one dimension can be -1`);
      infer = i;
    } else if (!Number.isSafeInteger(d) || d < 0) {
      throw new TypeError(`reshape ${formatShape(from)} -> ${formatShape(shape)}: dimensions must be non-negative integers or -1`);
    } else known *= d;
  }
  if (infer >= 0) {
    if (known === 0 || numel % known !== 0) throw new TypeError(`reshape ${formatShape(from)} -> ${formatShape(shape)}: ${numel} elements do not divide evenly`);
    out[infer] = numel / known;
  } else if (known !== numel) {
    throw new TypeError(`reshape ${formatShape(from)} -> ${formatShape(shape)}: ${numel} elements cannot take a shape of ${known}`);
  }
  return out;
}
