#!/usr/bin/env node
// vramlab command line: info, version, kernel (run the Jupyter kernel),
// install (write its kernelspec), run (execute a notebook headlessly) and
// serve (a kernel behind a websocket bridge with a live widget page).
import { readFileSync } from "node:fs";

const args = process.argv.slice(2);
const cmd = args[0] ?? "help";
const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));

const HELP = `usage: vramlab <command>

  info       CPU kernel level and CUDA availability
  version    print the version
  kernel     run the Jupyter kernel: vramlab kernel --connection-file FILE
  install    install the kernelspec so Jupyter lists the kernel:
             vramlab install [--user | --prefix PREFIX | --sys-prefix [--python PY]]
                             [--name NAME] [--display-name TEXT]
             (--user is the default)
  run        execute a notebook in the kernel and save its outputs:
             vramlab run NOTEBOOK [-p NAME=VALUE ...] [-o OUT] [--timeout S] [--html OUT.html]
             (vramlab run --help for every option)
  serve      start a kernel and serve a page with live widgets over a websocket bridge:
             vramlab serve [--connection-file FILE] [--host H] [--port P] [--no-token]
             (vramlab serve --help for every option)`;

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
    case "kernel": {
      const { kernelCommand } = await import("../dist/kernel/cli.js");
      await kernelCommand(args.slice(1));
      return null; // the kernel runs until a shutdown request ends the process
    }
    case "install": {
      const { installCommand } = await import("../dist/kernel/cli.js");
      const dir = installCommand(args.slice(1));
      console.log(`installed the vramlab kernelspec in ${dir}`);
      return 0;
    }
    case "run": {
      const { runCommand } = await import("../dist/kernel/cli.js");
      return await runCommand(args.slice(1));
    }
    case "serve": {
      const { serveCommand } = await import("../dist/kernel/ws-serve.js");
      await serveCommand(args.slice(1));
      return null; // serves until interrupted
    }
    case "help":
    case "--help":
    case "-h":
      console.log(HELP);
      return 0;
    default:
      console.error(`vramlab: unknown command "${cmd}". Run \`vramlab help\` for the list.`);
      return 2;
  }
}
main().then(
  (code) => {
    if (code !== null) process.exit(code);
  },
  (e) => {
    const usage = e && e.constructor && e.constructor.name === "UsageError";
    console.error(`vramlab: ${e && e.message ? e.message : e}`);
    process.exit(usage ? 2 : 1);
  },
);
