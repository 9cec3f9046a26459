import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { MAX_WEBSOCKET_PAYLOAD_BYTES } from "../shared/protocol/limits.js";
import { PROTOCOL_VERSION } from "../shared/protocol/version.js";
import { control, slaveNames, startMaster, startSlave, TEST_TOKEN } from "./helpers/cluster.js";
import { eventually, type Started, stopAll } from "./helpers/processes.js";
import { RawClient } from "./helpers/raw-client.js";

const register = (data: Record<string, unknown>) => ({
  type: "register_slave",
  data: { agent: "raw test", version: PROTOCOL_VERSION, name: "raw", id: 99, token: TEST_TOKEN, ...data },
});

describe("master, slaves and control over real sockets", () => {
  let url: string;
  let port: number;
  let master: Started;
  let alpha: Started;
  let beta: Started;

  before(async () => {
    ({ url, port, process: master } = await startMaster(["--handshake-timeout", "1000"]));
    [alpha, beta] = await Promise.all([startSlave(url, "alpha"), startSlave(url, "beta")]);
  });
  after(stopAll);

  it("lists both slaves and pings the master and each slave", async () => {
    const listed = await control(url, ["slaves", "--json"]);
    assert.equal(listed.code, 0, listed.stderr);
    const slaves = JSON.parse(listed.stdout) as {
      name: string;
      agent: string;
      address: string;
      connected_at: string;
    }[];
    assert.deepEqual(slaves.map((slave) => slave.name).sort(), ["alpha", "beta"]);
    for (const slave of slaves) {
      assert.equal(slave.address, "127.0.0.1");
      assert.ok(!Number.isNaN(Date.parse(slave.connected_at)));
    }
    for (const target of [[], ["alpha"], ["beta"]]) {
      const pinged = await control(url, ["ping", ...target]);
      assert.equal(pinged.code, 0, pinged.stderr);
      assert.match(pinged.stdout, /: \d+\.\d+ ms/);
    }
  });

  it("answers a ping for an unknown slave with one line on stderr and exit 1", async () => {
    const result = await control(url, ["ping", "gamma"]);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, 'control: no slave named "gamma" is connected\n');
  });

  it("refuses a bad token", async () => {
    const client = await RawClient.open(url);
    client.send(register({ token: "wrong" }));
    assert.equal(await client.closeReason(), "bad token");
  });

  it("refuses a different major version", async () => {
    const client = await RawClient.open(url);
    client.send(register({ version: "3.0.0" }));
    assert.match(await client.closeReason(), /protocol version 3\.0\.0 is incompatible with 2\.\d+\.\d+/);
  });

  it("closes on a garbage frame, non-object JSON and missing fields", async () => {
    const cases: [string, RegExp][] = [
      ["}{ not json", /^frame is not valid JSON$/],
      ["[1,2,3]", /^frame is not a JSON object$/],
      ['"text"', /^frame is not a JSON object$/],
      [
        JSON.stringify({ type: "register_slave", data: { agent: "a", version: PROTOCOL_VERSION, token: TEST_TOKEN } }),
        /^register_slave data\.name: /,
      ],
      [JSON.stringify({ type: "register_control" }), /frame field data is not an object/],
      [
        JSON.stringify({ type: "list_slaves_request", data: {} }),
        /^expected register_slave or register_control, got list_slaves_request$/,
      ],
    ];
    for (const [frame, reason] of cases) {
      const client = await RawClient.open(url);
      client.send(frame);
      assert.match(await client.closeReason(), reason, frame);
    }
  });

  it("answers a request of unknown type, or sent by the wrong role, with an error response", async () => {
    const client = await RawClient.open(url);
    client.send(register({}));
    await client.next("ready");
    assert.equal(await client.refusal("launch_rockets_request"), "unknown request type launch_rockets_request");
    assert.equal(await client.refusal("list_slaves_request"), "a slave may not send list_slaves_request");
    client.socket.close();
  });

  it("closes a frame over the size limit", async () => {
    const client = await RawClient.open(url);
    client.send(register({ agent: "x".repeat(2 * 1024 * 1024) }));
    assert.match(await client.closeReason(), /^frame of \d+ bytes exceeds the limit of 1048576 bytes$/);
  });

  it("closes a frame over the WebSocket limit with status 1009, every time", async () => {
    // The peer is still sending when the master closes; a reset used to overtake the close frame (1006 in most tries).
    for (let attempt = 0; attempt < 10; attempt++) {
      const client = await RawClient.open(url);
      client.socket.on("error", () => {}); // a reset would show as 1006 below
      client.send("y".repeat(MAX_WEBSOCKET_PAYLOAD_BYTES + 1));
      assert.equal(await client.closed, 1009, `attempt ${attempt + 1}`);
    }
  });

  it("closes a connection that never registers", async () => {
    const client = await RawClient.open(url);
    assert.equal(await client.closeReason(), "no register_slave or register_control within 1000 ms");
  });

  it("refuses a second slave of a connected name, whatever its id, and replaces the first when asked", async () => {
    const first = await RawClient.open(url);
    first.send(register({ name: "twin", id: 4242 }));
    await first.next("ready");
    for (const id of [4242, 7]) {
      const refused = await RawClient.open(url);
      refused.send(register({ name: "twin", id }));
      assert.match(
        await refused.closeReason(),
        /^a slave named twin is already connected from 127\.0\.0\.1 \(since \d\d:\d\d:\d\d\)$/,
      );
    }
    const second = await RawClient.open(url);
    second.send(register({ name: "twin", id: 7, replace: true }));
    await second.next("ready");
    assert.equal(await first.closeReason(), "replaced by a new connection");
    assert.deepEqual(await slaveNames(url), ["alpha", "beta", "twin"]);
    second.socket.close();
    await eventually(async () => (await slaveNames(url)).length === 2, 5000, "twin to leave");
  });

  it("kept serving through every failure above", async () => {
    assert.deepEqual(await slaveNames(url), ["alpha", "beta"]);
  });

  it("forgets a slave killed with SIGKILL", async () => {
    await beta.kill("SIGKILL");
    await eventually(async () => (await slaveNames(url)).join() === "alpha", 5000, "beta to disappear");
  });

  it("is rejoined by its slaves after a restart, without any command", async () => {
    await master.kill("SIGTERM");
    const restarted = await startMaster([], port);
    master = restarted.process;
    await eventually(async () => (await slaveNames(url)).join() === "alpha", 8000, "alpha to rejoin");
    assert.match(alpha.output, /reconnecting in \d+\.\d s/);
  });
});

describe("limits", () => {
  after(stopAll);

  it("refuses connections past the per-address handshake limit, with a reason", async () => {
    const { url } = await startMaster(["--handshake-limit", "3"]);
    const accepted = await Promise.all([1, 2, 3].map(() => RawClient.open(url)));
    const refused = await RawClient.open(url);
    assert.equal(await refused.closeReason(), "too many connections from 127.0.0.1 (limit 3 per minute)");
    for (const client of accepted) client.socket.close();
  });
});
