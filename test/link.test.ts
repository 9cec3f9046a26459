import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LinkClosedError, ProtocolError, RequestError, RequestTimeoutError } from "../shared/protocol/errors.js";
import { Link, type LinkOptions } from "../shared/protocol/link.js";
import { listSlaves, nodeStateEvent, ping } from "../shared/protocol/messages.js";

/** Two links wired back to back, as master and control. */
function pair(masterOptions: Partial<LinkOptions> = {}, controlOptions: Partial<LinkOptions> = {}) {
  const sent: { fromControl: (string | Buffer)[]; fromMaster: (string | Buffer)[] } = {
    fromControl: [],
    fromMaster: [],
  };
  /** One end: what it sends is recorded in `outbox`, then received by the other end on a later turn. */
  const end = (
    localRole: "master" | "control",
    outbox: (string | Buffer)[],
    peer: () => Link,
    options: Partial<LinkOptions>,
  ) =>
    new Link({
      send: (frame) => {
        outbox.push(frame);
        setImmediate(() => (typeof frame === "string" ? peer().receive(frame) : peer().receiveBinary(frame)));
      },
      localRole,
      peerRole: localRole === "master" ? "control" : "master",
      ...options,
    });
  const master: Link = end("master", sent.fromMaster, () => control, masterOptions);
  const control: Link = end("control", sent.fromControl, () => master, { requestTimeoutMs: 100, ...controlOptions });
  return { master, control, sent };
}

describe("Link", () => {
  it("numbers frames and matches responses to requests", async () => {
    const { master, control, sent } = pair();
    master.onRequest(listSlaves, () => ({ slaves: [] }));
    master.onRequest(ping, () => ({}));
    const [slaves] = await Promise.all([control.request(listSlaves, {}), control.request(ping, {})]);
    assert.deepEqual(slaves, { slaves: [] });
    assert.deepEqual(
      sent.fromControl.map((text) => JSON.parse(text as string).seq),
      [1, 2],
    );
    assert.deepEqual(sent.fromMaster.map((text) => JSON.parse(text as string).data.seq).sort(), [1, 2]);
  });

  it("turns a thrown error into an error response", async () => {
    const { master, control } = pair();
    master.onRequest(ping, () => {
      throw new Error("the slave is on fire");
    });
    await assert.rejects(control.request(ping, {}), new RequestError("the slave is on fire"));
  });

  it("answers a request nobody handles with an error", async () => {
    const { control } = pair();
    await assert.rejects(control.request(ping, {}), new RequestError("ping_request is not handled by the master"));
  });

  it("times out a request with a clear error", async () => {
    const silent = new Link({ send: () => {}, localRole: "control", peerRole: "master" });
    const waiting = silent.request(ping, {}, 50);
    assert.equal(silent.pendingRequests, 1);
    await assert.rejects(waiting, new RequestTimeoutError("ping_request got no response within 50 ms"));
    assert.equal(silent.pendingRequests, 0);
  });

  it("fails waiting requests when the connection is lost", async () => {
    const silent = new Link({ send: () => {}, localRole: "control", peerRole: "master" });
    const waiting = silent.request(ping, {});
    silent.connectionLost("socket closed");
    await assert.rejects(waiting, new LinkClosedError("ping_request failed: socket closed"));
    await assert.rejects(silent.request(ping, {}), LinkClosedError);
  });

  it("answers requests past the in-flight limit with an error", async () => {
    const { master, control } = pair({ maxRequestsInFlight: 2 });
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    master.onRequest(ping, async () => {
      await gate;
      return {};
    });
    const requests = [control.request(ping, {}), control.request(ping, {}), control.request(ping, {})];
    await assert.rejects(requests[2] as Promise<unknown>, new RequestError("too many requests in flight (limit 2)"));
    release();
    await Promise.all(requests.slice(0, 2));
  });

  it("holds back its own requests past maxOwnRequestsInFlight until earlier ones are answered", async () => {
    const { master, control } = pair({ maxRequestsInFlight: 2 }, { maxOwnRequestsInFlight: 2 });
    let handling = 0;
    let mostAtOnce = 0;
    master.onRequest(ping, async () => {
      mostAtOnce = Math.max(mostAtOnce, ++handling);
      await new Promise((resolve) => setTimeout(resolve, 5));
      handling--;
      return {};
    });
    await Promise.all(Array.from({ length: 7 }, () => control.request(ping, {})));
    assert.equal(mostAtOnce, 2);
    assert.equal(control.pendingRequests, 0);
  });

  it("fails held-back requests when the connection is lost", async () => {
    const silent = new Link({ send: () => {}, localRole: "control", peerRole: "master", maxOwnRequestsInFlight: 1 });
    const first = silent.request(ping, {});
    const held = silent.request(ping, {});
    silent.connectionLost("socket closed");
    await assert.rejects(first, new LinkClosedError("ping_request failed: socket closed"));
    await assert.rejects(held, new LinkClosedError("ping_request not sent: socket closed"));
  });

  it("refuses to send invalid data", () => {
    const silent = new Link({ send: () => {}, localRole: "control", peerRole: "master" });
    assert.throws(
      () => silent.request(ping, { slave: 5 } as never),
      /refusing to send invalid ping_request data\.slave/,
    );
  });

  it("throws ProtocolError on a schema failure, a wrong-role plain message and an unknown type", () => {
    const link = new Link({ send: () => {}, localRole: "master", peerRole: "control" });
    let seq = 0;
    const frame = (type: string, data: object) => JSON.stringify({ seq: ++seq, type, data });
    assert.throws(() => link.receive(frame("ping_request", { slave: 7 })), ProtocolError);
    assert.throws(
      () => link.receive(frame("hello", { version: "2.0.0" })),
      new ProtocolError("a control may not send hello"),
    );
    assert.throws(() => link.receive(frame("explode", {})), new ProtocolError('unknown message type "explode"'));
  });

  it("drops a frame it has already received (sent again after a resume)", () => {
    const link = new Link({ send: () => {}, localRole: "master", peerRole: "slave" });
    let handled = 0;
    link.onEvent(nodeStateEvent, () => handled++);
    const event = (seq: number) =>
      JSON.stringify({
        seq,
        type: "node_state_event",
        data: { node: { name: "a", parent: null, state: "ready", pid: 1, error: null } },
      });
    for (const seq of [1, 2, 2, 1, 3]) link.receive(event(seq));
    assert.equal(handled, 3);
    assert.equal(link.lastReceivedSeq, 3);
  });

  it("keeps unacknowledged frames and sends them again on a new socket", () => {
    const first: (string | Buffer)[] = [];
    const link = new Link({
      send: (text) => first.push(text),
      localRole: "control",
      peerRole: "master",
      resumable: true,
    });
    for (let index = 0; index < 3; index++) void link.request(ping, {}).catch(() => {});
    link.acknowledge(1);
    link.detach();
    void link.request(ping, {}).catch(() => {});
    assert.equal(first.length, 3, "nothing is written while detached");
    const second: (string | Buffer)[] = [];
    link.attach((text) => second.push(text), 2);
    assert.deepEqual(
      second.map((text) => JSON.parse(text as string).seq),
      [3, 4],
    );
    link.connectionLost("test over");
  });

  it("drops unknown events and late responses without failing", () => {
    const lines: string[] = [];
    const link = new Link({
      send: () => {},
      localRole: "master",
      peerRole: "control",
      log: (line) => lines.push(line),
    });
    link.receive(JSON.stringify({ seq: 1, type: "confetti_event", data: {} }));
    link.receive(JSON.stringify({ seq: 2, type: "ping_response", data: { seq: 77 } }));
    assert.deepEqual(lines, [
      "dropped unknown event confetti_event",
      "dropped ping_response: no request is waiting for seq 77",
    ]);
  });
});
