import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { SlaveInfo } from "../shared/protocol/messages.js";
import { control, controlBytes, startMaster, startSlave } from "./helpers/cluster.js";
import { startNats } from "./helpers/nats.js";
import { eventually, stopAll } from "./helpers/processes.js";

after(stopAll);

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

async function slavesVia(url: string): Promise<SlaveInfo[]> {
  const result = await control(url, ["slaves", "--json"]);
  if (result.code !== 0) throw new Error(`control slaves failed: ${result.stderr}`);
  return (JSON.parse(result.stdout) as SlaveInfo[]).sort((a, b) => a.name.localeCompare(b.name));
}

describe("three masters over NATS", () => {
  const masters: { url: string }[] = [];

  before(async () => {
    const nats = await startNats();
    for (let i = 0; i < 3; i++) masters.push(await startMaster(["--nats", nats.url]));
    const [, b, c] = masters as [{ url: string }, { url: string }, { url: string }];
    await Promise.all([startSlave(b.url, "on-b"), startSlave(c.url, "on-c")]);
    for (const { url } of masters)
      await eventually(async () => (await slavesVia(url)).length === 2, 10_000, `both slaves listed on ${url}`);
  });

  it("lists every slave on every master, each with the URL of the master it is connected to", async () => {
    const [a, b, c] = masters as [{ url: string }, { url: string }, { url: string }];
    const listed = await slavesVia(a.url);
    assert.deepEqual(
      listed.map((slave) => [slave.name, slave.master]),
      [
        ["on-b", b.url],
        ["on-c", c.url],
      ],
    );
    const table = await control(a.url, ["slaves"]);
    assert.match(table.stdout, /MASTER/);
    assert.ok(table.stdout.includes(c.url), table.stdout);
    const status = await control(a.url, ["status", "--json"]);
    assert.equal(status.code, 0, status.stderr);
    const trees = JSON.parse(status.stdout) as { slave: string }[];
    assert.deepEqual(trees.map((tree) => tree.slave).sort(), ["on-b", "on-c"]);
  });

  it("runs exec on slaves of other masters, with their exit codes, output and input", async () => {
    const [a] = masters as [{ url: string }];
    for (const slave of ["on-b", "on-c"]) {
      const result = await control(a.url, [
        "exec",
        "--slave",
        slave,
        "--",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
      ]);
      assert.deepEqual([result.code, result.stdout, result.stderr], [3, "out\n", "err\n"], slave);
    }
  });

  it("carries 20 MB byte-exact both ways through exec cat on another master's slave", async () => {
    const [a] = masters as [{ url: string }];
    const input = join(mkdtempSync(join(tmpdir(), "olympus-federation-")), "input");
    const data = randomBytes(20 * 1024 * 1024);
    writeFileSync(input, data);
    const result = await controlBytes(a.url, ["exec", "-T", "--slave", "on-c", "--", "cat"], input);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.length, data.length);
    assert.equal(sha256(result.stdout), sha256(data));
  });
});
