import assert from "node:assert/strict";
import { it } from "node:test";
import { ResendBuffer } from "../shared/protocol/resend-buffer.js";

it("keeps frames in order until acknowledged, and counts what it holds", () => {
  const buffer = new ResendBuffer();
  buffer.keep(1, "one");
  buffer.keep(2, "two!");
  buffer.keep(3, "three");
  assert.deepEqual(buffer.frames, ["one", "two!", "three"]);
  assert.equal(buffer.bytes, 12);

  buffer.acknowledge(0);
  assert.equal(buffer.frames.length, 3);
  buffer.acknowledge(2);
  assert.deepEqual(buffer.frames, ["three"]);
  assert.equal(buffer.bytes, 5);

  // An acknowledgement can only move forward; an old one changes nothing.
  buffer.acknowledge(1);
  assert.deepEqual(buffer.frames, ["three"]);
  buffer.keep(4, "four");
  buffer.acknowledge(10);
  assert.deepEqual(buffer.frames, []);
  assert.equal(buffer.bytes, 0);
});

it("forgets everything when cleared", () => {
  const buffer = new ResendBuffer();
  for (let seq = 1; seq <= 1000; seq++) buffer.keep(seq, `frame ${seq}`);
  buffer.acknowledge(400);
  assert.equal(buffer.frames[0], "frame 401");
  assert.equal(buffer.frames.length, 600);
  buffer.clear();
  assert.deepEqual([buffer.frames.length, buffer.bytes], [0, 0]);
});
