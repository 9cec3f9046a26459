#!/usr/bin/env node
/**
 * The `control` command: a launcher for dist/control.bundle.cjs.
 *
 * A control is a short-lived process, so its start-up is most of a
 * `control run`. Node 20 has no module compile cache, and parsing and
 * compiling the CLI's modules would cost more than the command itself, so
 * `npm run build` bundles them into one file and this launcher runs it
 * through a V8 code cache. There is one cache per subcommand, written when a
 * run finds none (or V8 rejects it, after a rebuild or a Node upgrade), so it
 * holds the functions that subcommand compiled.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { join } from "node:path";
import { Script } from "node:vm";

const bundle = join(__dirname, "..", "control.bundle.cjs");
/** control/cli.ts's subcommands; any other command line shares one cache. */
const SUBCOMMANDS = new Set(["slaves", "ping", "status", "watch", "restart", "run", "exec"]);

function cacheFile(): string {
  const directory = join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "olympus");
  const subcommand = process.argv.slice(2).find((arg) => SUBCOMMANDS.has(arg)) ?? "other";
  const key = createHash("sha256").update(`${bundle}\0${process.version}\0${process.arch}\0${subcommand}`).digest("hex");
  return join(directory, `control-${key.slice(0, 16)}.v8`);
}

function readCache(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}

/** Best effort: a cache that cannot be written only makes the next start slower. */
function writeCache(file: string, data: Buffer): void {
  try {
    mkdirSync(join(file, ".."), { recursive: true });
    const temporary = `${file}.${process.pid}`;
    writeFileSync(temporary, data);
    renameSync(temporary, file); // concurrent controls never see half a file
  } catch {
    // read-only or full home: run without a cache
  }
}

let source: string;
try {
  source = readFileSync(bundle, "utf8");
} catch {
  process.stderr.write(`control: ${bundle} is missing; build it with "npm run build"\n`);
  process.exit(1);
}
const cache = cacheFile();
const cachedData = readCache(cache);
const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: bundle, cachedData });
if (cachedData === undefined || script.cachedDataRejected === true) {
  process.once("exit", () => writeCache(cache, script.createCachedData()));
}
const bundleModule = { exports: {} };
script.runInThisContext()(bundleModule.exports, createRequire(bundle), bundleModule, bundle, join(__dirname, ".."));
