// Bundles browser-embed/embed.ts (the widget renderer of exported notebook
// pages) with esbuild into dist/browser/embed.js and dist/browser/embed.css,
// which kernel/notebook-html.ts inlines into each page that shows widgets.
// Fonts and images the widget CSS references become data: URLs, so a page
// needs no network; Font Awesome's @font-face rules keep only their woff2
// source (every browser that runs the bundle reads woff2), which keeps the
// CSS at a few hundred KiB instead of megabytes of eot/ttf/svg fonts.
import { build } from "esbuild";
import { readFileSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

const root = fileURLToPath(new URL("..", import.meta.url));
const outfile = join(root, "dist", "browser", "embed.js");

const woff2Only = {
  name: "font-awesome-woff2-only",
  setup(b) {
    b.onLoad({ filter: /@fortawesome[\\/]fontawesome-free[\\/]css[\\/].*\.css$/ }, (args) => {
      const css = readFileSync(args.path, "utf8");
      const out = css.replace(/src:url\([^)]*\.eot\);src:[^}]*?url\(([^)]*\.woff2)\) format\("woff2"\)[^}]*/g, 'src:url($1) format("woff2")');
      if (/\.(eot|ttf)\b/.test(out)) throw new Error(`${args.path}: an @font-face rule kept a non-woff2 font; update the rewrite in scripts/build-browser-embed.mjs`);
      return { contents: out, loader: "css" };
    });
  },
};

await build({
  absWorkingDir: root,
  entryPoints: [join(root, "browser-embed", "embed.ts")],
  bundle: true,
  format: "iife",
  platform: "browser",
  target: "es2020",
  minify: true,
  outfile,
  legalComments: "eof",
  logLevel: "warning",
  // html-manager's lib/libembed.js assigns webpack's public path on load
  banner: { js: "var __webpack_public_path__ = '';" },
  define: { "process.env.NODE_ENV": '"production"', global: "window" },
  plugins: [woff2Only],
  loader: { ".woff2": "dataurl", ".svg": "dataurl", ".png": "dataurl", ".gif": "dataurl" },
});

const kib = (p) => `${(statSync(p).size / 1024).toFixed(0)} KiB`;
console.log(`built ${outfile} (${kib(outfile)}) and embed.css (${kib(outfile.replace(/\.js$/, ".css"))})`);
