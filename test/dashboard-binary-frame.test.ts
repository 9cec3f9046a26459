import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import {
  BINARY_FRAMES,
  BINARY_HEADER_BYTES,
  commandStreams,
  decodeBinaryFrame,
  encodeBinaryFrame,
} from "../shared/protocol/binary-frame.js";
import { malformedHeaders } from "./helpers/malformed-frames.js";
import { projectRoot } from "./helpers/processes.js";

/** The page's codec, a plain module the page imports as it is: Node runs it the same. */
type PageFrame = { seq: number; stream: string; commandId: string; payload: Uint8Array };
const page = (await import(pathToFileURL(`${projectRoot}server/dashboard/public/binary-frame.js`).href)) as {
  BINARY_FRAMES: string;
  HEADER_BYTES: number;
  decodeBinaryFrame(buffer: ArrayBuffer): PageFrame;
  encodeBinaryFrame(seq: number, stream: string, commandId: string, payload: Uint8Array): Uint8Array;
};

const ID = "0123456789abcdef0123456789abcdef";
const SEQS = [1, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 3, 2 ** 48 - 1];

/** The frame's bytes copied into an ArrayBuffer of their own (a Buffer may be a view into a shared pool), as a WebSocket hands them over. */
const arrayBuffer = (frame: Uint8Array) => new Uint8Array(frame).buffer;

describe("the dashboard's binary frames", () => {
  it("name the extension and the header as the other roles do", () => {
    assert.equal(page.BINARY_FRAMES, BINARY_FRAMES);
    assert.equal(page.HEADER_BYTES, BINARY_HEADER_BYTES);
  });

  it("decode what the master sends: every stream, seq up to 48 bits, empty and large payloads", () => {
    for (const stream of commandStreams)
      for (const seq of SEQS)
        for (const payload of [Buffer.alloc(0), Buffer.from("hello\r\n"), Buffer.alloc(70_000, 0xff)]) {
          const decoded = page.decodeBinaryFrame(arrayBuffer(encodeBinaryFrame(seq, stream, ID, [payload])));
          assert.deepEqual(
            { ...decoded, payload: Buffer.from(decoded.payload) },
            { seq, stream, commandId: ID, payload },
          );
        }
  });

  it("encode what the master accepts", () => {
    for (const seq of SEQS) {
      const frame = page.encodeBinaryFrame(seq, "stdin", ID, new Uint8Array([3, 0, 255]));
      const decoded = decodeBinaryFrame(Buffer.from(frame));
      assert.deepEqual(decoded, { seq, stream: "stdin", commandId: ID, payload: Buffer.from([3, 0, 255]) });
    }
  });

  it("refuse a malformed frame with a one-line reason", () => {
    const good = encodeBinaryFrame(1, "stdout", ID, [Buffer.from("xyz")]);
    for (const [frame, reason] of malformedHeaders(good))
      assert.throws(() => page.decodeBinaryFrame(arrayBuffer(frame)), reason);
  });
});
