#!/usr/bin/env node
// Bundles the live page (browser/live.ts: ipywidgets' HTML manager on a live
// kernel, anywidget, plotly) into dist/browser/live.js and live.css, which
// kernel/ws-bridge.ts serves, and the TimelineWidget's ES module
// (browser/timeline-widget-view.ts) into dist/browser/timeline-widget.js. Run by the package's build; the browser test
// runs it when the bundle is missing.
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** esbuild does not type-check: browser/ has its own tsconfig (DOM lib), checked here. */
export function typecheckBrowser() {
  const r = spawnSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(root, "browser", "tsconfig.json")], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`type errors in browser/ (tsc -p browser/tsconfig.json):\n${r.stdout}${r.stderr}`);
}

export async function buildBrowserLive({ outdir = join(root, "dist", "browser"), minify = true, quiet = false, typecheck = true, sourcemap = false } = {}) {
  const t0 = performance.now();
  if (typecheck) typecheckBrowser();
  mkdirSync(outdir, { recursive: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: { live: join(root, "browser", "live.ts") },
    outdir,
    bundle: true,
    format: "iife",
    platform: "browser",
    target: ["es2022"],
    minify,
    // the map is 17 MB: only when asked (--sourcemap)
    sourcemap: sourcemap ? "linked" : false,
    legalComments: "linked",
    metafile: true,
    logLevel: quiet ? "error" : "warning",
    loader: { ".woff": "file", ".woff2": "file", ".ttf": "file", ".eot": "file", ".svg": "file", ".png": "file", ".gif": "file" },
    assetNames: "assets/[name]-[hash]",
    define: { "process.env.NODE_ENV": '"production"' },
    // html-manager's embed code (bundled, unused here) assigns webpack's asset path global
    banner: { js: "var __webpack_public_path__ = '';" },
  });
  // the TimelineWidget's front end: an anywidget ES module the kernel puts in the model's _esm
  const esm = await build({
    absWorkingDir: root,
    entryPoints: { "timeline-widget": join(root, "browser", "timeline-widget-view.ts") },
    outdir,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: ["es2022"],
    minify,
    metafile: true,
    logLevel: quiet ? "error" : "warning",
  });
  Object.assign(result.metafile.outputs, esm.metafile.outputs);
  const outputs = Object.entries(result.metafile.outputs).filter(([f]) => /\.(js|css)$/.test(f));
  if (!quiet) {
    for (const [file, info] of outputs) console.log(`${file}  ${(info.bytes / 1024 / 1024).toFixed(2)} MiB`);
    console.log(`built the live page in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  return outputs.map(([f]) => f);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    await buildBrowserLive({ minify: !process.argv.includes("--no-minify"), typecheck: !process.argv.includes("--no-typecheck"), sourcemap: process.argv.includes("--sourcemap") });
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
}
