// Binary values in widget state travel as extra message frames, named by
// buffer_paths: the path of keys/indices where each buffer sits in the
// state. This is ipywidgets' _remove_buffers/_put_buffers (and the
// frontend's remove_buffers/put_buffers): buffers are taken out at any
// depth, from objects (the key is dropped) and arrays (the slot becomes
// null), cloning only the containers on a buffer's path.

export type BufferPath = (string | number)[];

export function isBinary(v: unknown): v is ArrayBuffer | ArrayBufferView {
  return v instanceof ArrayBuffer || ArrayBuffer.isView(v);
}

/** A Uint8Array over the same bytes (no copy). */
export function bytesOf(v: ArrayBuffer | ArrayBufferView): Uint8Array {
  return v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !isBinary(v);
}

/** Takes every binary value out of a (serialized) state; the input is left untouched. */
export function separateBuffers<T>(state: T): { state: T; bufferPaths: BufferPath[]; buffers: Uint8Array[] } {
  const bufferPaths: BufferPath[] = [];
  const buffers: Uint8Array[] = [];
  const walk = (value: unknown, path: BufferPath): unknown => {
    if (Array.isArray(value)) {
      let copy: unknown[] | null = null;
      value.forEach((item, i) => {
        if (isBinary(item)) {
          copy ??= [...value];
          copy[i] = null;
          bufferPaths.push([...path, i]);
          buffers.push(bytesOf(item));
        } else if (Array.isArray(item) || isPlainObject(item)) {
          const inner = walk(item, [...path, i]);
          if (inner !== item) {
            copy ??= [...value];
            copy[i] = inner;
          }
        }
      });
      return copy ?? value;
    }
    if (isPlainObject(value)) {
      let copy: Record<string, unknown> | null = null;
      for (const [k, item] of Object.entries(value)) {
        if (isBinary(item)) {
          copy ??= { ...value };
          delete copy[k];
          bufferPaths.push([...path, k]);
          buffers.push(bytesOf(item));
        } else if (Array.isArray(item) || isPlainObject(item)) {
          const inner = walk(item, [...path, k]);
          if (inner !== item) {
            copy ??= { ...value };
            copy[k] = inner;
          }
        }
      }
      return copy ?? value;
    }
    return value;
  };
  return { state: walk(state, []) as T, bufferPaths, buffers };
}

/** Puts received buffers back at their paths (in place). Throws a clear error on a path that does not fit the state. */
export function putBuffers(state: Record<string, unknown>, bufferPaths: unknown, buffers: readonly Uint8Array[]): void {
  if (bufferPaths === undefined || bufferPaths === null) {
    if (buffers.length > 0) throw new TypeError(`${buffers.length} binary buffer(s) arrived without buffer_paths saying where they go`);
    return;
  }
  if (!Array.isArray(bufferPaths)) throw new TypeError(`buffer_paths must be an array of paths, got ${JSON.stringify(bufferPaths)}`);
  if (bufferPaths.length !== buffers.length) throw new TypeError(`buffer_paths names ${bufferPaths.length} path(s) but ${buffers.length} buffer(s) arrived`);
  bufferPaths.forEach((path, i) => {
    if (!Array.isArray(path) || path.length === 0 || !path.every((k) => typeof k === "string" || typeof k === "number")) {
      throw new TypeError(`buffer_paths[${i}] must be a non-empty array of keys and indices, got ${JSON.stringify(path)}`);
    }
    let container: unknown = state;
    for (const key of path.slice(0, -1)) {
      const next = (container as Record<string | number, unknown>)[key];
      if (next === null || typeof next !== "object") throw new TypeError(`buffer_paths[${i}] ${JSON.stringify(path)}: no object or array at ${JSON.stringify(key)} in the state`);
      container = next;
    }
    (container as Record<string | number, unknown>)[path[path.length - 1]] = buffers[i];
  });
}
