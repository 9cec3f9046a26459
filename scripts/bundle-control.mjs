// Bundles the control CLI (dist/control/main.js, after tsc) into one file,
// which bin/control.cts runs through a V8 code cache. One file parses and
// caches far faster than the ~80 modules it replaces.
import { build } from "esbuild";

// Built-in modules that ws and commander require as they load, but that a
// control talking ws:// never calls (https, tls: wss:// only; zlib:
// compression, which we do not negotiate; child_process: commander's
// executable subcommands, and the terminal bridge). Loading them cost ~10 ms
// of every start, so the bundle gets each as a proxy that loads it on first use.
// An ES import of one loads it at once (esbuild copies its keys): import it
// dynamically where it is needed, as control/terminal.ts does.
const LAZY_BUILTINS = ["https", "tls", "zlib", "child_process"];

const lazyBuiltins = {
  name: "lazy-builtins",
  setup(bundle) {
    const filter = new RegExp(`^(node:)?(${LAZY_BUILTINS.join("|")})$`);
    bundle.onResolve({ filter }, ({ path, namespace }) =>
      namespace === "lazy" ? { path, external: true } : { path: path.replace(/^node:/, ""), namespace: "lazy" },
    );
    bundle.onLoad({ filter: /.*/, namespace: "lazy" }, ({ path }) => ({
      contents: `let loaded;
const real = () => (loaded ??= require("node:${path}"));
module.exports = new Proxy({}, {
  get: (_, key) => real()[key],
  has: (_, key) => key in real(),
  ownKeys: () => Reflect.ownKeys(real()),
  getOwnPropertyDescriptor: (_, key) => {
    const descriptor = Reflect.getOwnPropertyDescriptor(real(), key);
    return descriptor && { ...descriptor, configurable: true }; // the empty target cannot back a fixed property
  },
});`,
      loader: "js",
    }));
  },
};

await build({
  entryPoints: ["dist/control/main.js"],
  outfile: "dist/control.bundle.cjs",
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs", // vm.Script, and so the code cache, takes a script, not a module
  minify: true,
  plugins: [lazyBuiltins],
  // ws's optional native masking: not worth its start-up to a control, which
  // sends keystrokes and acknowledgements; the agent and master do use it.
  // import.meta.url (shared/version.ts finds package.json from it) is the bundle's own file URL.
  define: { "process.env.WS_NO_BUFFER_UTIL": '"1"', "import.meta.url": "__bundle_url" },
  banner: { js: 'var __bundle_url = require("node:url").pathToFileURL(__filename).href;' },
  logLevel: "warning",
});
