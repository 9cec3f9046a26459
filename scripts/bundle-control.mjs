// Bundles the control CLI (dist/control/main.js, after tsc) into one file,
// which bin/control.cts runs through a V8 code cache. One file parses and
// caches far faster than the ~80 modules it replaces.
import { build } from "esbuild";

await build({
  entryPoints: ["dist/control/main.js"],
  outfile: "dist/control.bundle.cjs",
  bundle: true,
  platform: "node",
  target: "node20",
  format: "cjs", // vm.Script, and so the code cache, takes a script, not a module
  minify: true,
  // ws's optional native masking: not worth its start-up to a control, which
  // sends keystrokes and acknowledgements; the agent and master do use it.
  define: { "process.env.WS_NO_BUFFER_UTIL": '"1"' },
  logLevel: "warning",
});
