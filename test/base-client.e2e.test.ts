/**
 * A client written only from the base protocol's text (Clusterio's link): plain `ws`, JSON
 * messages `{seq, type, data}`, the example handshake. Only the master is
 * started with the project's helpers; the client imports nothing of ours.
 */
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import WebSocket from "ws";
import { startMaster, startSlave, TEST_TOKEN } from "./helpers/cluster.js";
import { stopAll } from "./helpers/processes.js";

let url: string;
before(async () => ({ url } = await startMaster()));
after(stopAll);

function nextMessage(socket: WebSocket): Promise<{ seq?: number; type: string; data: Record<string, unknown> }> {
  return new Promise((resolve) => socket.once("message", (text) => resolve(JSON.parse(text.toString()))));
}

it("passes the base protocol's example handshake", async () => {
  const socket = new WebSocket(url);
  const hello = await nextMessage(socket);
  assert.equal(hello.type, "hello");
  assert.equal(typeof hello.data.version, "string");

  // The base protocol's example register_slave, plus the token this deployment requires.
  socket.send(
    JSON.stringify({
      type: "register_slave",
      data: { agent: "Clusterio Slave", version: "2.0.0", name: "Foo", id: 123, token: TEST_TOKEN },
    }),
  );
  const ready = await nextMessage(socket);
  assert.equal(ready.type, "ready");
  assert.equal(typeof ready.data, "object");

  // Any party may close with a reason before disconnecting.
  socket.send(JSON.stringify({ seq: 1, type: "close", data: { reason: "base client done" } }));
  const code = await new Promise((resolve) => socket.once("close", resolve));
  assert.equal(code, 1000);
});

it("streams 24 MB of command output to a client that never heartbeats, in its first seconds", async () => {
  // The master keeps frames for a resume only for peers that acknowledge them;
  // past its 16 MiB bound for those, a base-protocol client would be cut off as too slow.
  await startSlave(url, "streamer");
  const socket = new WebSocket(url);
  await nextMessage(socket);
  socket.send(
    JSON.stringify({
      seq: 1,
      type: "register_control",
      data: { agent: "base client", version: "2.0.0", token: TEST_TOKEN },
    }),
  );
  const ready = await nextMessage(socket);
  assert.equal(ready.type, "ready");

  const total = 24 * 1024 * 1024;
  let received = 0;
  let seq = 1;
  const ended = new Promise<{ type: string; data: Record<string, unknown> }>((resolve) => {
    socket.on("message", (text) => {
      const frame = JSON.parse(text.toString()) as { type: string; data: Record<string, unknown> };
      if (frame.type === "command_output_event") {
        const bytes = Buffer.from(frame.data.data as string, "base64").length;
        received += bytes;
        socket.send(
          JSON.stringify({ seq: ++seq, type: "command_ack_event", data: { command_id: "basestream", bytes } }),
        );
      } else if (frame.type === "command_exit_event" || frame.type === "close") resolve(frame);
    });
  });
  socket.send(
    JSON.stringify({
      seq: ++seq,
      type: "exec_request",
      data: {
        slave: "streamer",
        command_id: "basestream",
        program: "head",
        args: ["-c", String(total), "/dev/zero"],
        terminal: null,
      },
    }),
  );
  const end = await ended;
  assert.equal(end.type, "command_exit_event", JSON.stringify(end.data));
  assert.equal(end.data.code, 0);
  assert.equal(received, total);

  // Nothing was kept to resend, so the session cannot be resumed: the master says register anew.
  const again = new WebSocket(url);
  await nextMessage(again);
  again.send(JSON.stringify({ type: "resume", data: { session_token: ready.data.session_token, last_seq: 0 } }));
  assert.equal((await nextMessage(again)).type, "invalidate");
  again.close();
  socket.close();
});
