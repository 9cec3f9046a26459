import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BINARY_HEADER_BYTES, decodeBinaryFrame, encodeBinaryFrame } from "../shared/protocol/binary-frame.js";
import { ProtocolError } from "../shared/protocol/errors.js";
import { Link } from "../shared/protocol/link.js";
import { commandInputEvent } from "../shared/protocol/messages.js";
import { malformedHeaders } from "./helpers/malformed-frames.js";

const ID = "command-0001";

/** A control's link and what it writes. */
function controlLink(binaryFrames: boolean) {
  const sent: (string | Buffer)[] = [];
  const link = new Link({ send: (frame) => sent.push(frame), localRole: "control", peerRole: "master" });
  link.binaryFrames = binaryFrames;
  return { link, sent };
}

describe("binary frames", () => {
  it("carry the header's fields and the payload as a view, not a copy", () => {
    const frame = encodeBinaryFrame(2 ** 40 + 3, "stderr", ID, [Buffer.from("ab"), Buffer.from("cd")]);
    assert.equal(frame.length, BINARY_HEADER_BYTES + ID.length + 4);
    const decoded = decodeBinaryFrame(frame);
    assert.deepEqual(
      { ...decoded, payload: decoded.payload.toString() },
      {
        seq: 2 ** 40 + 3,
        stream: "stderr",
        commandId: ID,
        payload: "abcd",
      },
    );
    assert.equal(decoded.payload.buffer, frame.buffer);
  });

  it("refuse a malformed header with a one-line reason", () => {
    const good = encodeBinaryFrame(1, "stdin", ID, [Buffer.from("xyz")]);
    const cases: [Buffer, RegExp][] = [
      ...malformedHeaders(good),
      [encodeBinaryFrame(1, "stdin", "bad id!!", []), /command id is not/],
      [encodeBinaryFrame(1, "stdin", "short", []), /command id is not/],
    ];
    for (const [frame, reason] of cases) assert.throws(() => decodeBinaryFrame(frame), reason);
  });

  it("are sent only when taken up; otherwise the same bytes go as base64 JSON", () => {
    const json = controlLink(false);
    json.link.sendBytes("stdin", ID, [Buffer.from("hi")]);
    assert.deepEqual(JSON.parse(json.sent[0] as string), {
      seq: 1,
      type: commandInputEvent.type,
      data: { command_id: ID, data: Buffer.from("hi").toString("base64") },
    });
    const binary = controlLink(true);
    binary.link.sendBytes("stdin", ID, [Buffer.from("hi")]);
    const decoded = decodeBinaryFrame(binary.sent[0] as Buffer);
    assert.equal(decoded.seq, 1);
    assert.equal(decoded.payload.toString(), "hi");
  });

  it("are refused from a peer that did not take them up, or whose role may not send them", () => {
    const master = new Link({ send: () => {}, localRole: "master", peerRole: "control" });
    const frame = encodeBinaryFrame(1, "stdin", ID, [Buffer.from("x")]);
    assert.throws(() => master.receiveBinary(frame), /not taken up at registration/);
    master.binaryFrames = true;
    master.onBytes(() => assert.fail("a refused frame reached its handler"));
    assert.throws(() => master.receiveBinary(encodeBinaryFrame(1, "stdout", ID, [])), ProtocolError);
    const viewer = new Link({
      send: () => {},
      localRole: "master",
      peerRole: "control",
      authorize: (definition) => `a viewer may not send ${definition.type}`,
    });
    viewer.binaryFrames = true;
    assert.throws(() => viewer.receiveBinary(frame), /a viewer may not send command_input_event/);
  });

  it("are forwarded renumbered, or as JSON to a peer without them", () => {
    const received: Buffer[] = [];
    const master = new Link({ send: () => {}, localRole: "master", peerRole: "control" });
    master.binaryFrames = true;
    master.onBytes((_frame, raw) => received.push(raw));
    master.receiveBinary(encodeBinaryFrame(1, "stdin", ID, [Buffer.from("abc")]));
    master.receiveBinary(encodeBinaryFrame(1, "stdin", ID, [Buffer.from("abc")])); // sent again after a resume
    assert.equal(received.length, 1);
    const onward = controlLink(true);
    onward.link.event(commandInputEvent, { command_id: ID, eof: true });
    const raw = received[0] as Buffer;
    onward.link.forwardBytes(decodeBinaryFrame(raw), raw);
    assert.equal(onward.sent[1], raw, "the same buffer goes on");
    assert.equal(decodeBinaryFrame(raw).seq, 2);
    const plain = controlLink(false);
    plain.link.forwardBytes(decodeBinaryFrame(raw), raw);
    assert.equal(JSON.parse(plain.sent[0] as string).data.data, Buffer.from("abc").toString("base64"));
  });
});
