import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { controlProgram } from "../control/cli/cli.js";
import { controlBin, run } from "./helpers/processes.js";

const cacheHome = mkdtempSync(join(tmpdir(), "olympus-launcher-"));
const cacheDirectory = join(cacheHome, "olympus");
const env = { ...process.env, XDG_CACHE_HOME: cacheHome };
after(() => rmSync(cacheHome, { recursive: true, force: true }));

const controlHelp = (args: string[]) => run(controlBin, [...args, "--help"], { env });
const cacheFiles = () =>
  readdirSync(cacheDirectory)
    .filter((name) => name.endsWith(".v8"))
    .sort();

test("the launcher writes one code cache per subcommand, and flags do not make new ones", async () => {
  const help = await controlHelp([]);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /Usage: control/);
  assert.equal(cacheFiles().length, 1, "control --help wrote its cache");

  const subcommands = controlProgram().commands.map((command) => command.name());
  for (const name of subcommands) {
    const result = await controlHelp([name]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`Usage: control ${name}`));
  }
  assert.equal(cacheFiles().length, 1 + subcommands.length, "each subcommand has a cache of its own");

  await controlHelp(["--master", "ws://127.0.0.1:1", "--token", "t", "run"]);
  await controlHelp(["--master", "ws://127.0.0.1:2", "--token", "u", "run"]);
  assert.equal(cacheFiles().length, 1 + subcommands.length, "flag values are not part of the key");
});

test("a cache V8 rejects is rewritten, and the command runs all the same", async () => {
  await controlHelp(["ping"]);
  const before = new Set(cacheFiles());
  for (const name of before) writeFileSync(join(cacheDirectory, name), "not a code cache");

  const result = await controlHelp(["ping"]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /Usage: control ping/);
  const rewritten = [...before].filter((name) => statSync(join(cacheDirectory, name)).size > 1000);
  assert.equal(rewritten.length, 1, "the ping cache was written again");
  assert.notEqual(readFileSync(join(cacheDirectory, rewritten[0]!)).toString("latin1", 0, 16), "not a code cache");
});

test("the caches of other builds are pruned when a new one is written", async () => {
  const stale = ["control-0123456789abcdef-run.v8", "control-0123456789abcdef.v8"];
  for (const name of stale) writeFileSync(join(cacheDirectory, name), "an older build's cache");
  const keep = new Set(cacheFiles().filter((name) => !stale.includes(name)));
  for (const name of keep) writeFileSync(join(cacheDirectory, name), "not a code cache"); // rejected: so it is written again

  const result = await controlHelp(["ping"]);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(
    cacheFiles().filter((name) => stale.includes(name)),
    [],
  );
  assert.ok(cacheFiles().length >= 1);
});

test("an unwritable cache directory only costs speed", async () => {
  writeFileSync(join(cacheHome, "blocked"), "a file where the directory would go");
  const result = await run(controlBin, ["--help"], { env: { ...env, XDG_CACHE_HOME: join(cacheHome, "blocked") } });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stderr, "");
  assert.match(result.stdout, /Usage: control/);
});
