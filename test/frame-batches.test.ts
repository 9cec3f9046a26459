import assert from "node:assert/strict";
import { it } from "node:test";
import { BATCH_LIMIT, FrameBatches, framesOf } from "../server/federation/frame-batches.js";

function recorder(): { sent: [string, string][]; batches: FrameBatches } {
  const sent: [string, string][] = [];
  return { sent, batches: new FrameBatches((subject, payload) => sent.push([subject, payload])) };
}

it("sends the frames of one turn as one message per subject, in order", async () => {
  const { sent, batches } = recorder();
  const frames = [1, 2, 3].map((seq) => JSON.stringify({ seq, type: "ping_request", data: { text: "a\nb" } }));
  for (const frame of frames) batches.add("to.b", frame);
  batches.add("to.c", frames[0] as string);
  assert.deepEqual(sent, [], "nothing is sent before the turn ends");
  await Promise.resolve();
  assert.equal(sent.length, 2);
  const [subject, payload] = sent[0] as [string, string];
  assert.equal(subject, "to.b");
  assert.deepEqual(framesOf(payload), frames);
  assert.deepEqual(sent[1], ["to.c", frames[0]]);
});

it("starts a new message before a batch would pass the limit", () => {
  const { sent, batches } = recorder();
  const frame = "x".repeat(BATCH_LIMIT / 2);
  batches.add("to.b", frame);
  batches.add("to.b", frame);
  assert.equal(sent.length, 1, "the second frame does not fit with the first and its separator");
  batches.flush();
  assert.deepEqual(
    sent.map(([, payload]) => framesOf(payload)),
    [[frame], [frame]],
  );
  for (const [, payload] of sent) assert.ok(payload.length <= BATCH_LIMIT);
});

it("sends the next turn's frames as a new message", async () => {
  const { sent, batches } = recorder();
  batches.add("to.b", "1");
  await Promise.resolve();
  batches.add("to.b", "2");
  await Promise.resolve();
  assert.deepEqual(sent, [
    ["to.b", "1"],
    ["to.b", "2"],
  ]);
});
