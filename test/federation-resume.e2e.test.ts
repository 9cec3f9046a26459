import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, openSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import type { SlaveInfo } from "../shared/protocol/messages.js";
import { control, startMaster, startSlave, TEST_TOKEN } from "./helpers/cluster.js";
import { startNats } from "./helpers/nats.js";
import { controlBin, eventually, type Started, start, stopAll } from "./helpers/processes.js";

after(stopAll);

const MiB = 1024 * 1024;
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

async function federatedMasters(count: number) {
  const nats = await startNats();
  const masters = [];
  for (let i = 0; i < count; i++) masters.push(await startMaster(["--nats", nats.url, "--heartbeat-interval", "500"]));
  return masters;
}

async function listedOn(via: string, master: string): Promise<boolean> {
  const result = await control(via, ["slaves", "--json"]);
  return result.code === 0 && (JSON.parse(result.stdout) as SlaveInfo[]).some((slave) => slave.master === master);
}

/** Random bytes in a file, to feed a command's stdin. */
function randomFile(bytes: number): { path: string; data: Buffer } {
  const data = randomBytes(bytes);
  const path = join(mkdtempSync(join(tmpdir(), "olympus-resume-")), "input");
  writeFileSync(path, data);
  return { path, data };
}

/**
 * `control exec` of `sh -c SCRIPT` (by default `cat; exit 7`) on the slave
 * `mover`, stdin from `input`, through `masters`; its stdout is counted as
 * it comes.
 */
function catThrough(masters: string, input: string, script = "cat; exit 7") {
  const args = ["--master", masters, "--token", TEST_TOKEN, "exec", "--slave", "mover", "--", "sh", "-c", script];
  const running = start(process.execPath, [controlBin, ...args], {
    cwd: mkdtempSync(join(tmpdir(), "olympus-control-")),
    stdio: [openSync(input, "r"), "pipe", "pipe"],
    keepOutput: false,
  });
  const chunks: Buffer[] = [];
  const progress = { bytes: 0, stderr: "" };
  running.child.stdout?.on("data", (chunk: Buffer) => {
    chunks.push(chunk);
    progress.bytes += chunk.length;
  });
  running.child.stderr?.on("data", (chunk: Buffer) => (progress.stderr += chunk.toString()));
  const done = running.exited.then(({ code }) => ({ code, stdout: Buffer.concat(chunks), stderr: progress.stderr }));
  return { progress, done };
}

/** The control's output is `expected`, whole and once, and it ended with the command's exit code after resuming. */
function assertWhole(
  result: { code: number | null; stdout: Buffer; stderr: string },
  expected: Buffer,
  code = 7,
): void {
  assert.equal(result.code, code, result.stderr);
  assert.equal(result.stdout.length, expected.length, result.stderr);
  assert.equal(sha256(result.stdout), sha256(expected));
  assert.match(result.stderr, /resumed after \d+ bytes of output/);
}

/** `cat` of `size` random bytes through `urls`; `victim` is killed with -9 once 4 MiB have come; every byte comes once. */
async function catKilledMidway(urls: string, victim: { process: Started }, size: number): Promise<void> {
  const input = randomFile(size);
  const cat = catThrough(urls, input.path);
  await eventually(() => cat.progress.bytes > 4 * MiB, 60_000, "the stream under way");
  const killedAt = Date.now();
  await victim.process.kill("SIGKILL");
  const bytesAtKill = cat.progress.bytes;
  await eventually(() => /resumed after/.test(cat.progress.stderr), 30_000, "the command resumed");
  console.log(`resumed ${Date.now() - killedAt} ms after kill -9 of the master`);
  const result = await cat.done;
  assert.ok(bytesAtKill < input.data.length, "the master was killed before the end of the stream");
  assertWhole(result, input.data);
}

it("resumes a command through another master when its slave's and its control's master is killed mid-stream", {
  timeout: 120_000,
}, async () => {
  const [a, b] = await federatedMasters(2);
  if (a === undefined || b === undefined) throw new Error("two masters expected");
  await startSlave(`${a.url},${b.url}`, "mover");
  await catKilledMidway(`${a.url},${b.url}`, a, 50 * MiB);
  assert.ok(await listedOn(b.url, b.url), "mover is on b");
});

it("resumes a command through its control's master when the slave's master is killed and the slave moves", {
  timeout: 120_000,
}, async () => {
  const [a, b, c] = await federatedMasters(3);
  if (a === undefined || b === undefined || c === undefined) throw new Error("three masters expected");
  await startSlave(`${b.url},${c.url}`, "mover");
  await eventually(() => listedOn(a.url, b.url), 10_000, "mover listed on b");
  await catKilledMidway(a.url, b, 50 * MiB);
  assert.ok(await listedOn(a.url, c.url), "mover is on c");
});

it("resumes a command through its slave's master when the control's own master is killed", {
  timeout: 120_000,
}, async () => {
  const [a, b] = await federatedMasters(2);
  if (a === undefined || b === undefined) throw new Error("two masters expected");
  await startSlave(b.url, "mover");
  await eventually(() => listedOn(a.url, b.url), 10_000, "mover listed on b");
  await catKilledMidway(`${a.url},${b.url}`, a, 32 * MiB);
});

it("resumes a command that ended while no master was up, with its last output and its exit code", {
  timeout: 120_000,
}, async () => {
  const nats = await startNats();
  const flags = ["--nats", nats.url, "--heartbeat-interval", "500"];
  const [a, b] = [await startMaster(flags), await startMaster(flags)];
  await startSlave(`${a.url},${b.url}`, "mover");
  const tail = randomFile(200 * 1024);
  const done = join(mkdtempSync(join(tmpdir(), "olympus-resume-")), "done");
  const script = `echo first; sleep 1; cat ${tail.path}; touch ${done}; exit 5`;
  const command = catThrough(`${a.url},${b.url}`, tail.path, script);
  await eventually(() => command.progress.bytes > 0, 30_000, "the first line");
  await b.process.kill("SIGKILL");
  await a.process.kill("SIGKILL");
  await eventually(() => existsSync(done), 30_000, "the command's end, with no master up");
  await startMaster(flags, b.port);
  const result = await command.done;
  assertWhole(result, Buffer.concat([Buffer.from("first\n"), tail.data]), 5);
});
