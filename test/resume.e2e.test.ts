import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, it } from "node:test";
import { makeApp } from "./helpers/app.js";
import { control, slaveBehindProxy, slaveNames, startMaster, TEST_TOKEN } from "./helpers/cluster.js";
import { controlBin, eventually, olympusBin, type Started, startNode, stopAll } from "./helpers/processes.js";
import { CuttableProxy } from "./helpers/proxy.js";
import { RawClient } from "./helpers/raw-client.js";

after(stopAll);

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

it("delivers 50 MB of output intact while both the control's and the agent's connections are cut", async () => {
  const app = makeApp({});
  const file = join(app, "big.bin");
  writeFileSync(file, randomBytes(50 * 1024 * 1024));
  const expected = sha256(readFileSync(file));

  const { process: master, port } = await startMaster();
  const { agent, proxy: agentProxy } = await slaveBehindProxy(port, "far", app);
  const controlProxy = await CuttableProxy.start(port);

  const child = spawn(
    process.execPath,
    [
      controlBin,
      "--master",
      `ws://127.0.0.1:${controlProxy.port}`,
      "--token",
      TEST_TOKEN,
      "exec",
      "-T",
      "--",
      "cat",
      file,
    ],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const chunks: Buffer[] = [];
  let received = 0;
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => {
    chunks.push(chunk);
    received += chunk.length;
  });
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));

  for (const [threshold, proxy] of [
    [5, agentProxy],
    [15, controlProxy],
    [25, agentProxy],
    [35, controlProxy],
  ] as const) {
    await eventually(() => received >= threshold * 1024 * 1024, 30_000, `${threshold} MB received`);
    assert.equal(proxy.cutAll(), 1, `one connection cut at ${threshold} MB`);
  }
  const code = await exited;
  assert.equal(code, 0, stderr);
  assert.equal(received, 50 * 1024 * 1024);
  assert.equal(sha256(Buffer.concat(chunks)), expected);
  assert.equal(agent.output.match(/resumed the session/g)?.length, 2);
  assert.equal(master.output.match(/slave far \(.*\) resumed its session/g)?.length, 2);
  assert.equal(master.output.match(/control .* resumed its session/g)?.length, 2);
  agentProxy.close();
  controlProxy.close();
});

it("is rejoined by all of its agents within 2 s of a restart", async () => {
  const { process: first, port, url } = await startMaster();
  const agents: Started[] = [];
  for (const name of ["a1", "a2", "a3"]) {
    const agent = startNode(olympusBin, ["slave", "--master", url, "--name", name, "--token", TEST_TOKEN]);
    await agent.waitFor(/connected to/);
    agents.push(agent);
  }
  const watcher = await RawClient.open(url);
  await watcher.registerControl(TEST_TOKEN, "raw");
  await first.kill("SIGTERM");
  assert.equal(await watcher.closeReason(), "master shutting down", "every peer is told why");
  assert.match(agents[0]?.output ?? "", /master closed the session: master shutting down/);
  // Restart only once every agent is retrying, so the rejoin is their reconnect loop at work.
  await Promise.all(agents.map((agent) => agent.waitFor(/unavailable .*; reconnecting in/)));
  const restarted = await startMaster([], port);
  const back = Date.now();
  await eventually(async () => (await slaveNames(url)).join() === "a1,a2,a3", 5000, "all three agents to rejoin");
  const elapsed = Date.now() - back;
  assert.ok(elapsed <= 2000, `rejoined after ${elapsed} ms`);
  const status = await control(url, ["status", "--json"]);
  assert.equal(status.code, 0);
  await restarted.process.kill("SIGTERM");
});
