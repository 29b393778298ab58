// Builds engine/native with CMake (run by `npm install` / `npm ci`).
// Headers come from the node-api-headers and node-addon-api packages.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cpus } from "node:os";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(root, "package.json"));
const napiInclude = require("node-api-headers").include_dir;
const addonApiDir = dirname(require.resolve("node-addon-api/package.json"));
const buildDir = join(root, "build", "native");
const disableCuda = process.env.VRAMLAB_NO_CUDA === "1" ? ["-DVL_DISABLE_CUDA=ON"] : [];

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: "inherit", cwd: root });
  if (r.error) throw new Error(`${cmd} could not start: ${r.error.message} (install cmake and a C++17 compiler)`);
  if (r.status !== 0) process.exit(r.status ?? 1);
}

run("cmake", ["-S", join(root, "engine", "native"), "-B", buildDir, "-DCMAKE_BUILD_TYPE=Release",
  `-DNODE_API_INCLUDE_DIR=${napiInclude}`, `-DNODE_ADDON_API_DIR=${addonApiDir}`, ...disableCuda]);
run("cmake", ["--build", buildDir, "--parallel", String(Math.max(1, cpus().length))]);
