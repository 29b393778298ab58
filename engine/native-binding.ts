// Loads the C++ addon built by scripts/build-native.mjs. Kernel families add
// their entry points to NativeBinding with `declare module` in their own files.
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** A block of host memory owned by the addon. */
export interface NativeStorage {
  readonly nbytes: number;
  readonly freed: boolean;
  free(): void;
}

export interface CudaInfo {
  compiled: boolean;
  available: boolean;
  deviceCount: number;
  reason?: string;
  devices?: { name: string; totalMemory: number; computeCapability: string }[];
}

/** Live host storages of this thread, and the part reported to V8 as external memory (storage.cpp). */
export interface HostStorageStats {
  liveBytes: number;
  liveCount: number;
  reportedBytes: number;
  epochBytes: number;
  epochs: number;
}

/** The host block cache (host_block_cache.cpp): freed blocks kept mapped for the next allocations. */
export interface HostCacheStats {
  /** bytes of freed blocks held for reuse (not in any tensor) */
  cachedBytes: number;
  cachedBlocks: number;
  /** the most the cache holds (VRAMLAB_HOST_CACHE_MB; 0: caching off) */
  capBytes: number;
  /** allocations served from the cache / from the system */
  hits: number;
  misses: number;
  /** cached blocks returned to the system to stay under the cap */
  evictions: number;
}

export interface NativeBinding {
  Storage: new (nbytes: number, zero?: boolean) => NativeStorage;
  read(storage: NativeStorage, byteOffset: number, nbytes: number): ArrayBuffer;
  write(storage: NativeStorage, byteOffset: number, src: ArrayBufferView | ArrayBuffer): void;
  copyBytes(dst: NativeStorage, dstOffset: number, src: NativeStorage, srcOffset: number, nbytes: number): void;
  hostStorageStats(): HostStorageStats;
  hostCacheStats(): HostCacheStats;
  /** Returns every cached host block to the system; the bytes freed. */
  emptyHostCache(): number;
  getNumThreads(): number;
  setNumThreads(n: number): void;
  cpuInfo(): { avx2Fma: boolean; avx512: boolean; f16c: boolean; level: "avx512" | "avx2" | "portable" };
  cudaInfo(): CudaInfo;
  cudaSelfTest(n: number, value: number): number;
}

function packageRoot(): string {
  // dist/engine/native-binding.js -> package root is two levels up from dist/engine
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, "package.json"))) return dir;
    dir = dirname(dir);
  }
  throw new Error("vramlab: cannot find the package root from " + fileURLToPath(import.meta.url));
}

function load(): NativeBinding {
  const root = packageRoot();
  const path = process.env.VRAMLAB_NATIVE_PATH ?? join(root, "build", "native", "vramlab_native.node");
  if (!existsSync(path)) {
    throw new Error(`vramlab: the native addon is missing (${path}). Run \`npm install\` or \`npm run build\` in ${root}; it needs cmake and a C++17 compiler.`);
  }
  const require = createRequire(join(root, "package.json"));
  return require(path) as NativeBinding;
}

export const native: NativeBinding = load();
