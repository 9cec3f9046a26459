import assert from "node:assert/strict";
import { once } from "node:events";
import { createConnection, createServer, type Socket } from "node:net";
import { it } from "node:test";
import WebSocket, { WebSocketServer } from "ws";
import { maskKeyFor } from "../shared/runtime/frame-mask.js";

it("masks with a zero key only where no proxy can read the frames: TLS and loopback", () => {
  const zero = (url: string) => {
    const generate = maskKeyFor(url);
    if (generate === undefined) return false;
    const key = Buffer.from([1, 2, 3, 4]);
    generate(key);
    return key.equals(Buffer.alloc(4));
  };
  for (const url of [
    "ws://127.0.0.1:7000/api/socket",
    "ws://127.8.9.1:7000/api/socket",
    "ws://localhost:7000/api/socket",
    "ws://[::1]:7000/api/socket",
    "wss://build.example.com/api/socket",
  ])
    assert.equal(zero(url), true, url);
  for (const url of ["ws://10.0.0.5:7000/api/socket", "ws://build.example.com/api/socket", "ws://[fe80::1]:7000/"])
    assert.equal(maskKeyFor(url), undefined, url);
});

it("a loopback client's frames carry the mask bit, a zero key and the payload as it is, and the server takes them", async (t) => {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await once(server, "listening");
  const received = new Promise<Buffer>((resolve) =>
    server.once("connection", (socket) => socket.once("message", (data: Buffer) => resolve(data))),
  );
  // A TCP tap between client and server keeps what the client wrote after the upgrade.
  const upstreamPort = (server.address() as { port: number }).port;
  let written = Buffer.alloc(0);
  const sockets: Socket[] = [];
  const tap = createServer((client) => {
    const upstream = createConnection(upstreamPort, "127.0.0.1");
    sockets.push(client, upstream);
    client.on("data", (chunk: Buffer) => {
      written = Buffer.concat([written, chunk]);
      upstream.write(chunk);
    });
    upstream.pipe(client);
  }).listen(0, "127.0.0.1");
  await once(tap, "listening");
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    tap.close();
    server.close();
  });

  const url = `ws://127.0.0.1:${(tap.address() as { port: number }).port}/api/socket`;
  const client = new WebSocket(url, { generateMask: maskKeyFor(url) });
  await once(client, "open");
  const payload = Buffer.from("bytes a proxy never sees scrambled");
  client.send(payload);
  assert.deepEqual(await received, payload);
  client.close();

  const frame = written.subarray(written.indexOf("\r\n\r\n") + 4);
  assert.equal(frame[0], 0x82, "one final binary frame");
  assert.equal(frame[1], 0x80 | payload.length, "the mask bit is set, as RFC 6455 requires of a client");
  assert.deepEqual(frame.subarray(2, 6), Buffer.alloc(4), "the key is zero");
  assert.deepEqual(frame.subarray(6, 6 + payload.length), payload);
});
