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
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { join } from "node:path";
import { Script } from "node:vm";

const bundle = join(__dirname, "..", "control.bundle.cjs");
/** control/cli/cli.ts's subcommands; any other command line shares one cache. */
const SUBCOMMANDS = new Set([
  "slaves",
  "ping",
  "status",
  "watch",
  "history",
  "dashboard",
  "restart",
  "run",
  "exec",
  "test",
]);

const cacheDirectory = join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "olympus");

/**
 * The build's key hashes the bundle's contents: V8 checks a cache against the
 * source's length only, so a rebuilt bundle of the same length would run old
 * code for functions compiled lazily.
 */
function buildKey(source: string): string {
  return createHash("sha256").update(`${source}\0${process.version}\0${process.arch}`).digest("hex").slice(0, 16);
}

function cacheFile(build: string): string {
  const subcommand = process.argv.slice(2).find((arg) => SUBCOMMANDS.has(arg)) ?? "other";
  return join(cacheDirectory, `control-${build}-${subcommand}.v8`);
}

/** Caches of other builds are of no more use. */
function pruneOtherBuilds(build: string): void {
  try {
    for (const name of readdirSync(cacheDirectory)) {
      if (name.startsWith("control-") && name.endsWith(".v8") && !name.startsWith(`control-${build}-`))
        rmSync(join(cacheDirectory, name), { force: true });
    }
  } catch {
    // nothing to prune
  }
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
const build = buildKey(source);
const cache = cacheFile(build);
const cachedData = readCache(cache);
const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
  filename: bundle,
  cachedData,
});
if (cachedData === undefined || script.cachedDataRejected === true) {
  process.once("exit", () => {
    writeCache(cache, script.createCachedData());
    pruneOtherBuilds(build);
  });
}
const bundleModule = { exports: {} };
script.runInThisContext()(bundleModule.exports, createRequire(bundle), bundleModule, bundle, join(__dirname, ".."));
