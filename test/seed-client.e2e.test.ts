/**
 * A client written only from the Clusterio seed's text: plain `ws`, JSON
 * messages `{seq, type, data}`, the example handshake. Only the master is
 * started with the project's helpers; the client imports nothing of ours.
 */
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import WebSocket from "ws";
import { TEST_TOKEN, startMaster } from "./helpers/cluster.js";
import { stopAll } from "./helpers/processes.js";

let url: string;
before(async () => ({ url } = await startMaster()));
after(stopAll);

function nextMessage(socket: WebSocket): Promise<{ seq?: number; type: string; data: Record<string, unknown> }> {
  return new Promise((resolve) => socket.once("message", (text) => resolve(JSON.parse(text.toString()))));
}

it("passes the seed's example handshake", async () => {
  const socket = new WebSocket(url);
  const hello = await nextMessage(socket);
  assert.equal(hello.type, "hello");
  assert.equal(typeof hello.data.version, "string");

  // The seed's example register_slave, plus the token this deployment requires.
  socket.send(JSON.stringify({
    type: "register_slave",
    data: { agent: "Clusterio Slave", version: "2.0.0", name: "Foo", id: 123, token: TEST_TOKEN },
  }));
  const ready = await nextMessage(socket);
  assert.equal(ready.type, "ready");
  assert.equal(typeof ready.data, "object");

  // Any party may close with a reason before disconnecting.
  socket.send(JSON.stringify({ seq: 1, type: "close", data: { reason: "seed client done" } }));
  const code = await new Promise((resolve) => socket.once("close", resolve));
  assert.equal(code, 1000);
});
