// `import * as vl from "vramlab"` from a notebook in any folder: at run
// time "vramlab" and "vramlab/<subpath>" resolve to the package this
// kernel belongs to (package self-reference through its "exports" map);
// for type checking, tslab's TypeScript sees a virtual
// <cwd>/node_modules/vramlab laid out like the installed package (the
// export's declaration files), the way tslab forwards its own name.
import Module, { createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
export const PACKAGE_NAME = "vramlab";

/** The package root (holds package.json), from this file's place in kernel/ or dist/kernel/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const pj = join(dir, "package.json");
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, "utf8")) as { name?: string }).name === PACKAGE_NAME) return dir;
      } catch {
        // not ours; keep looking
      }
    }
    dir = dirname(dir);
  }
  throw new Error(`cannot find the ${PACKAGE_NAME} package root above ${fileURLToPath(import.meta.url)}`);
}

function isOwnRequest(request: string): boolean {
  return request === PACKAGE_NAME || request.startsWith(`${PACKAGE_NAME}/`);
}

type ResolveFilename = (request: string, parent: unknown, isMain: boolean, options?: unknown) => string;
interface ModuleInternals {
  _resolveFilename: ResolveFilename;
  _nodeModulePaths(dir: string): string[];
}

let runtimeInstalled = false;

/** Makes require("vramlab[/sub]") from anywhere load this package (one engine instance per kernel). */
export function installRuntimeResolution(root = packageRoot()): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const M = Module as unknown as ModuleInternals;
  const original = M._resolveFilename;
  const pkgJson = join(root, "package.json");
  // A parent inside the package makes Node resolve the request as a self-reference through "exports".
  const selfParent = { id: pkgJson, filename: pkgJson, paths: M._nodeModulePaths(root) };
  M._resolveFilename = function (this: unknown, request: string, parent: unknown, isMain: boolean, options?: unknown): string {
    if (isOwnRequest(request)) {
      try {
        return original.call(this, request, selfParent, false, undefined);
      } catch {
        // fall through: normal resolution gives the usual error message
      }
    }
    return original.call(this, request, parent, isMain, options);
  };
}

interface ExportsEntry {
  types?: string;
  default?: string;
}

/** Virtual subdirectory -> real directory of its declaration files, from package.json "exports". */
function exportDirs(root: string): Map<string, string> {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { exports?: Record<string, ExportsEntry | string> };
  const out = new Map<string, string>();
  for (const [key, entry] of Object.entries(pkg.exports ?? {})) {
    if (key === "." || !key.startsWith("./") || typeof entry !== "object" || !entry.types) continue;
    out.set(key.slice(2), dirname(join(root, entry.types)));
  }
  return out;
}

interface TsSys {
  fileExists(path: string): boolean;
  directoryExists(path: string): boolean;
  readFile(path: string, encoding?: string): string | undefined;
  realpath?(path: string): string;
  getDirectories(path: string): string[];
  readDirectory(path: string, ...rest: unknown[]): string[];
  watchFile?(path: string, ...rest: unknown[]): { close(): void };
  watchDirectory?(path: string, ...rest: unknown[]): { close(): void };
  getModifiedTime?(path: string): Date | undefined;
}

let typesInstalled = false;

/**
 * Patches the TypeScript system object tslab's converter inherits from so
 * that `<cwd or an ancestor>/node_modules/vramlab/...` reads this package:
 * package.json, dist/, and each export's folder under its own name.
 * Directory and package.json watching are turned off: tslab's converter
 * keeps one pending timer, and those watchers schedule a second one when
 * files change (a new file in the notebook folder, an npm install), after
 * which every cell fails with "Unexpected pending rebuildTimer". Changes
 * to .ts files imported by cells are still seen.
 */
export function installTypeResolution(cwd: string, root = packageRoot()): void {
  if (typesInstalled) return;
  typesInstalled = true;
  const sys = (require("@tslab/typescript-for-tslab") as { sys: TsSys }).sys;
  const dirs = exportDirs(root);
  const ancestors = new Set<string>();
  for (let d = resolve(cwd); ; d = dirname(d)) {
    ancestors.add(d.replace(/\\/g, "/"));
    if (dirname(d) === d) break;
  }
  const marker = `/node_modules/${PACKAGE_NAME}`;
  const notExported = join(root, ".vramlab-not-exported");
  const forward = (path: string): string => {
    if (typeof path !== "string") return path;
    const p = path.replace(/\\/g, "/");
    const i = p.indexOf(marker);
    if (i < 0) return path;
    const base = p.slice(0, i) || "/";
    if (!ancestors.has(base)) return path;
    const rest = p.slice(i + marker.length);
    if (rest === "" || rest === "/") return root;
    if (rest[0] !== "/") return path; // e.g. node_modules/vramlab-other
    const sub = rest.slice(1);
    if (sub === "package.json" || sub === "dist" || sub.startsWith("dist/")) return join(root, sub);
    const first = sub.split("/")[0];
    const dir = dirs.get(first);
    if (dir) return join(dir, sub.slice(first.length));
    return join(notExported, sub);
  };
  const wrap = <K extends keyof TsSys>(name: K) => {
    const original = sys[name] as unknown as ((...a: unknown[]) => unknown) | undefined;
    if (typeof original !== "function") return;
    (sys as unknown as Record<string, unknown>)[name] = (path: string, ...rest: unknown[]) => original.call(sys, forward(path), ...rest);
  };
  for (const name of ["fileExists", "directoryExists", "readFile", "realpath", "getDirectories", "readDirectory", "watchFile", "getModifiedTime"] as const) wrap(name);
  sys.watchDirectory = () => ({ close() {} });
  // package.json watchers ("affecting locations") schedule that second timer too.
  const watchFile = sys.watchFile;
  sys.watchFile = (path: string, ...rest: unknown[]) => (/(^|[\\/])package\.json$/.test(path) || !watchFile ? { close() {} } : watchFile.call(sys, path, ...rest));
}
