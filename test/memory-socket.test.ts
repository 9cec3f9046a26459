import assert from "node:assert/strict";
import { once } from "node:events";
import { test } from "node:test";
import { MemorySocket } from "../shared/runtime/memory-socket.js";

test("MemorySocket: upgrade first, then frames in order as copies, then close on both ends", async () => {
  const [client, master] = MemorySocket.pair();
  const seen: string[] = [];
  client.once("upgrade", ({ socket }: { socket: MemorySocket }) => seen.push(`upgrade ${socket === client}`));
  client.on("message", (payload: Buffer, isBinary: boolean) => seen.push(`client ${isBinary} ${payload}`));
  const atMaster: Buffer[] = [];
  master.on("message", (payload: Buffer) => atMaster.push(payload));

  master.send('{"type":"hello"}');
  const bytes = Buffer.from("abc");
  client.send(bytes);
  bytes.write("xyz"); // the sender reuses its buffer: the frame on its way is a copy
  master.send(Buffer.from([1, 2]));
  master.close(1008); // after the frames sent before it
  client.send("dropped: this end is closed too");

  const [code] = await once(client, "close");
  assert.equal(code, 1008);
  assert.deepEqual(seen, ["upgrade true", 'client false {"type":"hello"}', "client true \u0001\u0002"]);
  assert.deepEqual(atMaster, [Buffer.from("abc")]);
  assert.equal(client.readyState, 3);
  assert.equal(master.readyState, 3);
});

test("MemorySocket: terminate() ends both ends with 1006, once", async () => {
  const [client, master] = MemorySocket.pair();
  const codes: number[] = [];
  client.on("close", (code: number) => codes.push(code));
  master.on("close", (code: number) => codes.push(code));
  client.terminate();
  master.close();
  await once(master, "close");
  assert.deepEqual(codes, [1006, 1006]);
});
