import assert from "node:assert/strict";
import { it } from "node:test";
import { type Chunk, ReplayLog } from "../shared/protocol/replay-log.js";

const text = (chunks: Chunk[]) => Buffer.concat(chunks.map((chunk) => chunk.data)).toString();

it("keeps what is unacknowledged and gives it back from any position within it, once", () => {
  const log = new ReplayLog<Chunk>();
  for (const piece of ["abc", "defg", "hi"]) log.add({ data: Buffer.from(piece) });
  assert.equal(log.sent, 9);
  log.acknowledgeUpTo(4);
  assert.equal(log.unacknowledged, 5);
  assert.equal(text(log.after(5)), "fghi");
  assert.equal(text(log.after(9)), "");
  assert.throws(() => log.after(2), /byte 2 is not kept: bytes 3 to 9 are/);
  assert.throws(() => log.after(10), /byte 10 is not kept/);
  log.acknowledgeUpTo(2);
  assert.equal(log.acknowledged, 4, "never back");
  log.acknowledgeUpTo(100);
  assert.equal(log.acknowledged, 9, "never past what was sent");
  assert.equal(text(log.after(9)), "");
});
