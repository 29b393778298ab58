#!/usr/bin/env node
// vramlab command line. Subcommands arrive with their capabilities
// (kernel, install, run); today: info and version.
import { readFileSync } from "node:fs";

const args = process.argv.slice(2);
const cmd = args[0] ?? "help";
const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));

async function main() {
  switch (cmd) {
    case "--version":
    case "version":
      console.log(pkg.version);
      return 0;
    case "info": {
      const vl = await import("../dist/engine/index.js");
      const cpu = vl.cpuInfo();
      const cuda = vl.cudaInfo();
      console.log(`vramlab ${pkg.version}`);
      console.log(`cpu: kernels ${cpu.level}, ${vl.getNumThreads()} threads`);
      console.log(`cuda: ${cuda.compiled ? "compiled" : "not compiled"}; ${cuda.available ? `${cuda.deviceCount} device(s): ${cuda.devices.map((d) => d.name).join(", ")}` : cuda.reason}`);
      return 0;
    }
    case "help":
    case "--help":
    case "-h":
      console.log("usage: vramlab <command>\n\n  info       CPU kernel level and CUDA availability\n  version    print the version");
      return 0;
    default:
      console.error(`vramlab: unknown command "${cmd}". Run \`vramlab help\` for the list.`);
      return 2;
  }
}
main().then((code) => process.exit(code), (e) => { console.error(`vramlab: ${e.message}`); process.exit(1); });
