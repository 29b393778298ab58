// Where an experiment ran: the device it measured, the devices this process
// made (with the figures of every simulated one, limit included, since they
// decide modelled times and out-of-memory errors), CUDA, versions (node,
// vramlab, the native addon file), the CPU and its kernel level, the host,
// the git commit of the working folder and the VRAMLAB_* settings.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { arch, cpus, hostname, platform, release, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { listDevices, getDevice } from "../device.js";
import { native } from "../native-binding.js";
import { SimDevice } from "../sim/sim-device.js";
import type { SimProfile } from "../sim/profiles.js";
import { gitState, type GitState } from "./git.js";

export interface SimDeviceInfo {
  profile: SimProfile;
  /** dataless (sim:PROFILE:meta) */
  dataless: boolean;
  /** bytes tensors may use: the capacity, or a lower setMemoryLimit() */
  memoryLimit: number;
}

export interface ExperimentEnvironment {
  /** the device the experiment measured (the report's, or the device option); null when neither says */
  device: string | null;
  /** every device this process has made */
  devices: string[];
  /** the simulated ones among them (and the measured one), by name */
  simDevices: Record<string, SimDeviceInfo>;
  cuda: { compiled: boolean; available: boolean; deviceCount: number; devices: { name: string; totalMemory: number; computeCapability: string }[] };
  versions: { node: string; v8: string; vramlab: string | null; addon: { path: string; sha256: string } | null };
  cpu: { model: string; cores: number; threads: number; level: string; avx2Fma: boolean; avx512: boolean; f16c: boolean };
  host: { platform: string; arch: string; release: string; hostname: string; memoryBytes: number };
  /** the working folder (where git was looked up) and its repository state (null outside a repository) */
  workdir: string;
  git: GitState | null;
  /** VRAMLAB_* environment variables (thread count, native addon path ...) */
  settings: Record<string, string>;
}

let packageVersion: string | null | undefined;
function vramlabVersion(): string | null {
  if (packageVersion !== undefined) return packageVersion;
  packageVersion = null;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const file = join(dir, "package.json");
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
      if (pkg.name === "vramlab") {
        packageVersion = pkg.version ?? null;
        break;
      }
    }
    dir = dirname(dir);
  }
  return packageVersion;
}

let addonIdentity: { path: string; sha256: string } | null | undefined;
/** The addon file this process loaded (from the process report's shared objects) and its hash: which build measured. */
function addonVersion(): { path: string; sha256: string } | null {
  if (addonIdentity !== undefined) return addonIdentity;
  addonIdentity = null;
  try {
    const shared = (process.report?.getReport() as { sharedObjects?: string[] } | undefined)?.sharedObjects ?? [];
    const path = shared.find((p) => p.endsWith("vramlab_native.node"));
    if (path) addonIdentity = { path, sha256: createHash("sha256").update(readFileSync(path)).digest("hex") };
  } catch {
    // no process report or the file moved: the version stays unknown
  }
  return addonIdentity;
}

function simInfo(name: string): SimDeviceInfo | null {
  try {
    const d = getDevice(name);
    if (!(d instanceof SimDevice)) return null;
    return { profile: JSON.parse(JSON.stringify(d.profile)) as SimProfile, dataless: d.dataless, memoryLimit: d.memoryLimit };
  } catch {
    return null;
  }
}

export function captureEnvironment(options: { device?: string | null; workdir?: string } = {}): ExperimentEnvironment {
  const devices = listDevices().map((d) => d.name);
  const simDevices: Record<string, SimDeviceInfo> = {};
  for (const name of new Set([...(options.device ? [options.device] : []), ...devices])) {
    if (!name.startsWith("sim:")) continue;
    const info = simInfo(name);
    if (info) simDevices[name] = info;
  }
  const cuda = native.cudaInfo();
  const cpu = native.cpuInfo();
  const cpuList = cpus();
  const settings: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith("VRAMLAB_") && v !== undefined) settings[k] = v;
  const workdir = options.workdir ?? process.cwd();
  return {
    device: options.device ?? null,
    devices,
    simDevices,
    cuda: { compiled: cuda.compiled, available: cuda.available, deviceCount: cuda.deviceCount, devices: cuda.devices ?? [] },
    versions: { node: process.version, v8: process.versions.v8, vramlab: vramlabVersion(), addon: addonVersion() },
    cpu: { model: cpuList[0]?.model.trim() ?? "unknown", cores: cpuList.length, threads: native.getNumThreads(), level: cpu.level, avx2Fma: cpu.avx2Fma, avx512: cpu.avx512, f16c: cpu.f16c },
    host: { platform: platform(), arch: arch(), release: release(), hostname: hostname(), memoryBytes: totalmem() },
    workdir,
    git: gitState(workdir),
    settings,
  };
}
