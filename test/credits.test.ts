import assert from "node:assert/strict";
import { it } from "node:test";
import { Credits } from "../shared/protocol/credits.js";
import { COMMAND_WINDOW_BYTES } from "../shared/protocol/limits.js";

it("grants credit in steps of half a window, so a sender stopped on a full window always hears back", () => {
  const granted: number[] = [];
  const credits = new Credits((bytes) => granted.push(bytes));
  // A sender that sends 4 KiB chunks until a window is unacknowledged, and the receiver consuming each.
  let unacknowledged = 0;
  let sent = 0;
  while (sent < 10 * COMMAND_WINDOW_BYTES) {
    assert.ok(unacknowledged < COMMAND_WINDOW_BYTES, `stuck with ${unacknowledged} bytes unacknowledged`);
    unacknowledged += 4096;
    sent += 4096;
    const before = granted.length;
    credits.consumed(4096);
    for (const bytes of granted.slice(before)) unacknowledged -= bytes;
  }
  assert.equal(granted.length, 20, "two grants per window, not one per chunk");
  assert.ok(granted.every((bytes) => bytes === COMMAND_WINDOW_BYTES / 2));
});

it("grants nothing while held, and nothing again of what settle() handed over as a position", () => {
  const granted: number[] = [];
  const credits = new Credits((bytes) => granted.push(bytes));
  credits.hold(true);
  credits.consumed(COMMAND_WINDOW_BYTES);
  assert.deepEqual(granted, []);
  assert.equal(credits.settle(), COMMAND_WINDOW_BYTES);
  credits.consumed(COMMAND_WINDOW_BYTES / 2);
  credits.hold(false);
  assert.deepEqual(granted, [COMMAND_WINDOW_BYTES / 2], "only what was consumed after the settle");
  assert.equal(credits.total, (3 * COMMAND_WINDOW_BYTES) / 2);
});
