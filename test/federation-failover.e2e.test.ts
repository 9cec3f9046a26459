import assert from "node:assert/strict";
import { after, it } from "node:test";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { FLEET_BUCKET, slaveKey } from "../server/federation/names.js";
import type { SlaveInfo } from "../shared/protocol/messages.js";
import { control, startMaster, startSlave, TEST_TOKEN } from "./helpers/cluster.js";
import { startNats } from "./helpers/nats.js";
import { eventually, stopAll } from "./helpers/processes.js";

after(stopAll);

const HEARTBEAT_MS = 500;

async function slavesVia(url: string): Promise<SlaveInfo[]> {
  const result = await control(url, ["slaves", "--json"]);
  if (result.code !== 0) throw new Error(`control slaves failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as SlaveInfo[];
}

async function federatedMasters(count: number) {
  const nats = await startNats();
  const masters = [];
  for (let i = 0; i < count; i++)
    masters.push(await startMaster(["--nats", nats.url, "--heartbeat-interval", String(HEARTBEAT_MS)]));
  return masters;
}

it("moves a slave to the next master in its list when its master is killed, and every master sees it there", async () => {
  const [a, b, c] = await federatedMasters(3);
  if (a === undefined || b === undefined || c === undefined) throw new Error("three masters expected");
  await startSlave(`${b.url},${c.url}`, "mover");
  await eventually(async () => (await slavesVia(a.url)).some((slave) => slave.master === b.url), 10_000, "mover on b");
  const killedAt = Date.now();
  await b.process.kill("SIGKILL");
  await eventually(
    async () => {
      const listed = await slavesVia(a.url);
      return listed.length === 1 && listed[0]?.name === "mover" && listed[0]?.master === c.url;
    },
    10_000,
    "mover listed on c through a",
  );
  console.log(`mover listed through another master ${Date.now() - killedAt} ms after its master was killed`);
  const result = await control(a.url, ["exec", "--slave", "mover", "--", "sh", "-c", "echo moved"]);
  assert.deepEqual([result.code, result.stdout], [0, "moved\n"]);
});

it("marks a dead master's slaves gone within the heartbeat timeout", async () => {
  const [a, b] = await federatedMasters(2);
  if (a === undefined || b === undefined) throw new Error("two masters expected");
  await Promise.all([startSlave(b.url, "stays-1"), startSlave(b.url, "stays-2")]);
  await eventually(async () => (await slavesVia(a.url)).length === 2, 10_000, "both slaves listed on a");
  const killedAt = Date.now();
  await b.process.kill("SIGKILL");
  await eventually(async () => (await slavesVia(a.url)).length === 0, 10_000, "the dead master's slaves gone");
  console.log(
    `slaves of a killed master gone ${Date.now() - killedAt} ms later (heartbeat timeout ${2 * HEARTBEAT_MS} ms)`,
  );
  const result = await control(a.url, ["exec", "--slave", "stays-1", "--", "true"]);
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /stays-1/);
});

it("connects a control to the first master of its list that answers", async () => {
  const [a, b] = await federatedMasters(2);
  if (a === undefined || b === undefined) throw new Error("two masters expected");
  await startSlave(b.url, "reached");
  await b.process.kill("SIGKILL");
  await startSlave(a.url, "also-reached");
  const result = await control(`${b.url},${a.url}`, ["slaves", "--json"]);
  assert.equal(result.code, 0, result.stderr);
  const listed = JSON.parse(result.stdout) as SlaveInfo[];
  assert.ok(
    listed.some((slave) => slave.name === "also-reached" && slave.master === a.url),
    JSON.stringify(listed),
  );
});

it("keeps serving through a NATS outage, says so in /api/health, and rejoins when NATS is back", async () => {
  const nats = await startNats();
  const masters = [];
  for (let i = 0; i < 3; i++)
    masters.push(await startMaster(["--nats", nats.url, "--heartbeat-interval", String(HEARTBEAT_MS)]));
  const [a, b] = masters as [(typeof masters)[0], (typeof masters)[0]];
  await startSlave(b.url, "before");
  await eventually(async () => (await slavesVia(a.url)).length === 1, 10_000, "before listed on a");

  await nats.process.kill("SIGKILL");
  const health = async (url: string) => {
    const response = await fetch(url.replace(/^ws/, "http").replace(/api\/socket$/, "api/health"), {
      headers: { authorization: `Bearer ${TEST_TOKEN}` },
    });
    return ((await response.json()) as { federation?: { nats: string } }).federation?.nats;
  };
  for (const { url } of masters)
    await eventually(async () => (await health(url)) === "disconnected", 10_000, `${url} says NATS is lost`);
  // Each master still serves its own slaves and controls.
  await startSlave(b.url, "during");
  const local = await control(b.url, ["exec", "--slave", "during", "--", "sh", "-c", "echo here"]);
  assert.deepEqual([local.code, local.stdout], [0, "here\n"]);

  await startNats(nats.port, nats.store);
  for (const { url } of masters)
    await eventually(async () => (await health(url)) === "connected", 20_000, `${url} back on NATS`);
  await eventually(
    async () =>
      (await slavesVia(a.url))
        .map((slave) => `${slave.name}@${slave.master}`)
        .sort()
        .join() === `before@${b.url},during@${b.url}`,
    20_000,
    "both slaves of b listed on a again",
  );
  const remote = await control(a.url, ["exec", "--slave", "during", "--", "sh", "-c", "echo there"]);
  assert.deepEqual([remote.code, remote.stdout], [0, "there\n"]);
});

it("fails a request to a slave whose master stopped answering with an error that says so", async () => {
  const nats = await startNats();
  // A lease of 4 s: the request is surely on its way before the silent master's lease lapses.
  const heartbeat = ["--nats", nats.url, "--heartbeat-interval", "2000"];
  const [a, b] = [await startMaster(heartbeat), await startMaster(heartbeat)];
  await startSlave(b.url, "frozen");
  await eventually(async () => (await slavesVia(a.url)).length === 1, 10_000, "frozen listed on a");
  b.process.child.kill("SIGSTOP");
  const result = await control(a.url, ["ping", "frozen"]);
  assert.equal(result.code, 1);
  assert.match(result.stderr, /slave frozen is on a master that stopped answering/);
  await b.process.kill("SIGKILL");
});

it("writes back a slave that another master tidied out of the registry while it is still connected", async () => {
  const nats = await startNats();
  const [a, b] = [await startMaster(["--nats", nats.url]), await startMaster(["--nats", nats.url])];
  await startSlave(b.url, "kept");
  const listedOnA = async () => (await slavesVia(a.url)).some((slave) => slave.name === "kept");
  await eventually(listedOnA, 10_000, "kept listed on a");
  // What a master does when another's lease looked lapsed under load: delete that master's slaves' entries.
  const client = await connect({ servers: nats.url });
  try {
    const kv = await new Kvm(client).open(FLEET_BUCKET);
    const written = (await kv.get(slaveKey("kept")))?.revision ?? 0;
    await kv.delete(slaveKey("kept"));
    await eventually(
      async () => {
        const entry = await kv.get(slaveKey("kept"));
        return entry?.operation === "PUT" && entry.revision > written;
      },
      10_000,
      "kept written back by b",
    );
    await eventually(listedOnA, 10_000, "kept listed on a again");
  } finally {
    await client.close();
  }
});
