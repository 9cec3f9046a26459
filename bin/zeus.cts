#!/usr/bin/env node
/**
 * A `zeus`-compatible client, for habits and scripts that call `zeus` (the
 * gem's rake test hook runs `system "zeus test …"`): `zeus start [options]`
 * is `olympus start [options]`, and `zeus COMMAND [args…]` is
 * `control run COMMAND [args…]`. It runs them in this process, so a command
 * starts as fast as through `control` itself. It is not in package.json's
 * `bin`, so it never shadows a real zeus; `npm run link-zeus` links it.
 */
import { join } from "node:path";

const [first, ...rest] = process.argv.slice(2);
if (first === undefined || first === "help" || first === "--help" || first === "-h") {
  process.stderr.write(
    "usage: zeus start [olympus start options]\n       zeus COMMAND [ARGS...]   (control run COMMAND ARGS...)\n",
  );
  process.exit(first === undefined ? 1 : 0);
}
if (first === "start") {
  const olympus = join(__dirname, "olympus.js");
  process.argv = [process.argv[0]!, olympus, "start", ...rest];
  void import(olympus);
} else {
  const control = join(__dirname, "control.cjs");
  process.argv = [process.argv[0]!, control, "run", "--", first, ...rest];
  require(control);
}
