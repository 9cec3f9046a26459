/**
 * Fuzzing the master: at least 100,000 random and mutated frames over many
 * connections at once. It must stay up, end every bad connection with a
 * one-line reason, and keep its memory flat.
 *
 * Every frame is drawn from a seeded PRNG (test/helpers/fuzz-frames.ts). The
 * seed is printed as a diagnostic; FUZZ_SEED=<seed> replays the same frames
 * (how the parallel connections interleave still varies). FUZZ_FRAMES sets
 * the budget.
 *
 * How it stays fast: each registered connection gets batches of frames the
 * master must survive (sent at once, then every request's response awaited),
 * and now and then one frame it must not survive, which ends the connection.
 * An oracle built from the catalogue (test/helpers/fuzz-oracle.ts) says which
 * is which, so a mismatch (a close where none was due, a request left
 * unanswered) is a finding too.
 */
import assert from "node:assert/strict";
import { after, before, describe, it, type TestContext } from "node:test";
import { PROTOCOL_VERSION } from "../shared/protocol/version.js";
import { control, slaveNames, startMaster, startSlave, TEST_TOKEN } from "./helpers/cluster.js";
import { Random, SEED } from "./helpers/fuzz-frames.js";
import {
  type Findings,
  FRAME_BUDGET,
  guarded,
  openPeers,
  registeredPeer,
  silentPeers,
  stranger,
} from "./helpers/fuzz-peer.js";
import { Inspector, rssMb, withInspector } from "./helpers/inspector.js";
import { eventually, olympusBin, run, type Started, stopAll } from "./helpers/processes.js";
import { RawClient } from "./helpers/raw-client.js";
import { rawTcpJunk } from "./helpers/raw-tcp.js";

/** Long enough for a registration to be answered while the master is busy with everyone else's junk. */
const HANDSHAKE_TIMEOUT_MS = 5000;
/** Past this the master's RSS has grown, not just fluctuated. */
const RSS_GROWTH_LIMIT_MB = 50;

after(stopAll);

/** The handshake rate limit (if this master has one) would refuse our thousands of connections from one address. */
async function handshakeLimitFlags(): Promise<string[]> {
  const help = await run(olympusBin, ["master", "--help"]);
  const flag = ["--handshake-limit", "--handshake-rate"].find((name) => help.stdout.includes(name));
  return flag === undefined ? [] : [flag, "1000000"];
}

function top(counts: Map<string, number>, count: number): string[] {
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([reason, times]) => `${String(times).padStart(6)}  ${reason}`);
}

// ------------------------------------------------------------------- tests

describe("fuzzing the master", () => {
  let master: Started;
  let url: string;
  let port: number;

  let inspector: Inspector;

  before(async () => {
    const flags = ["--handshake-timeout", String(HANDSHAKE_TIMEOUT_MS), ...(await handshakeLimitFlags())];
    ({ process: master, url, port } = await withInspector(() => startMaster(flags)));
    inspector = await Inspector.open(master.output);
    await startSlave(url, "steady");
  });
  after(() => inspector?.close());

  it(`survives ${FRAME_BUDGET} random and mutated frames, ending every bad connection with a reason`, async (t: TestContext) => {
    t.diagnostic(`seed ${SEED} (replay: FUZZ_SEED=${SEED})`);
    const findings: Findings = {
      frames: 0,
      connections: 0,
      badConnections: 0,
      strangers: 0,
      registeredThenJunk: 0,
      responses: 0,
      unknownRequestsAnswered: 0,
      reasons: new Map(),
      webSocketCloses: new Map(),
      problems: [],
      stopped: false,
    };
    const rng = new Random(SEED);
    const pid = master.child.pid as number;
    // Memory after a full GC, once warmed up (10% of the frames), halfway and at the end; and the peak RSS.
    const memory: { warm?: Promise<{ rss: number; heap: number }>; half?: Promise<{ rss: number; heap: number }> } = {};
    let peakRss = 0;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, rssMb(pid));
      if (memory.warm === undefined && findings.frames >= FRAME_BUDGET / 10) memory.warm = inspector.memory(pid);
      if (memory.half === undefined && findings.frames >= FRAME_BUDGET / 2) memory.half = inspector.memory(pid);
    }, 100);

    const began = performance.now();
    let rawResults: string[] = [];
    await Promise.all([
      ...Array.from({ length: 32 }, (_, i) =>
        guarded(findings, registeredPeer(url, findings, rng.fork(i), i % 2 === 0 ? "control" : "slave", i)),
      ),
      ...Array.from({ length: 12 }, (_, i) => guarded(findings, stranger(url, findings, rng.fork(1000 + i)))),
      guarded(findings, silentPeers(url, findings, 20)),
      guarded(
        findings,
        rawTcpJunk(port, findings, rng.fork(2000), HANDSHAKE_TIMEOUT_MS).then((results) => (rawResults = results)),
      ),
    ]);
    const seconds = (performance.now() - began) / 1000;
    clearInterval(sampler);
    for (const peer of openPeers) peer.socket.terminate();
    await eventually(() => openPeers.size === 0, 10_000, "every fuzz connection to close");
    const [warm, half, end] = await Promise.all([memory.warm, memory.half, inspector.memory(pid)]);
    if (warm === undefined || half === undefined) throw new Error("the run ended before its memory was sampled");

    t.diagnostic(
      `${findings.frames} frames in ${seconds.toFixed(1)} s over ${findings.connections} connections; ${findings.badConnections} bad ones closed`,
    );
    t.diagnostic(
      `${findings.strangers} connections sent junk before registering; ${findings.registeredThenJunk} registered validly (or were invalidated), then sent junk`,
    );
    t.diagnostic(
      `${findings.responses} responses awaited and received; ${findings.unknownRequestsAnswered} to requests of unknown type, each an error`,
    );
    const mb = (reading: { rss: number; heap: number }) =>
      `${reading.rss.toFixed(1)} MB (live heap ${reading.heap.toFixed(1)} MB)`;
    t.diagnostic(
      `master RSS after a full GC: ${mb(warm)} after warm-up (10% of the frames), ${mb(half)} halfway, ${mb(end)} at the end; ${peakRss.toFixed(1)} MB at peak`,
    );
    t.diagnostic("close reasons, most frequent first (digits and quoted text folded):");
    for (const line of top(findings.reasons, 40)) t.diagnostic(line);
    const layer = [...findings.webSocketCloses].map(([code, times]) => `${times} × ${code}`).join(", ");
    t.diagnostic(`closed by the WebSocket layer with a status but no reason: ${layer || "none"}`);
    t.diagnostic("raw TCP junk, what the master answered:");
    for (const line of rawResults) t.diagnostic(`  ${line}`);

    assert.deepEqual(findings.problems.slice(0, 20), [], `${findings.problems.length} problems`);
    assert.ok(findings.frames >= FRAME_BUDGET, `only ${findings.frames} frames sent`);
    assert.ok(findings.unknownRequestsAnswered > 0, "no request of unknown type was sent");
    assert.equal(master.child.exitCode, null, "the master is still running");
    assert.doesNotMatch(
      master.output,
      /internal error|Uncaught|\n\s+at /,
      "the master logged an internal error or a stack trace",
    );
    assert.ok(end.rss - warm.rss < RSS_GROWTH_LIMIT_MB, `RSS grew from ${mb(warm)} to ${mb(end)}`);
  });

  it("still lists and pings its slave afterwards, and answers a request of unknown type with an error", async () => {
    assert.deepEqual(await slaveNames(url), ["steady"]);
    for (const target of [[], ["steady"]]) {
      const pinged = await control(url, ["ping", ...target]);
      assert.equal(pinged.code, 0, pinged.stderr);
    }
    const client = await RawClient.open(url);
    await client.registerControl(TEST_TOKEN, "fuzz");
    assert.equal(await client.refusal("launch_rockets_request"), "unknown request type launch_rockets_request");
    client.socket.close();
  });

  // Found by this fuzzer: a request's handler runs in a microtask, after a fatal frame in the same
  // read may have ended the session; it must not run then (a watch would leak, an exec be orphaned).
  it("does not act on a request whose session ended in the same read", async () => {
    const doomed = await RawClient.open(url);
    await doomed.registerControl(TEST_TOKEN, "fuzz");
    doomed.sendTogether(
      {
        seq: 2,
        type: "exec_request",
        data: { slave: "steady", command_id: "orphan-0001", program: "sleep", args: ["3"], terminal: null },
      },
      "not json",
    );
    await doomed.closed;
    const observer = await RawClient.open(url);
    await observer.registerControl(TEST_TOKEN, "fuzz");
    // A barrier: the master forwards to steady, and steady answers, in order, so once this command
    // has run its course an exec forwarded before it would be listed.
    observer.send({
      seq: 2,
      type: "exec_request",
      data: { slave: "steady", command_id: "barrier-0001", program: "true", args: [], terminal: null },
    });
    await observer.next("exec_response");
    await observer.next("command_exit_event");
    observer.send({ seq: 3, type: "commands_request", data: {} });
    const { commands } = (await observer.next("commands_response")).data as { commands: { command_id: string }[] };
    observer.socket.close();
    assert.deepEqual(commands, [], "a command started for a session that had already ended");
  });

  // Found by this fuzzer: ws used to close such a frame with a bare 1007.
  it("ends a text frame that is not UTF-8 with a close frame and a reason", async () => {
    const client = await RawClient.open(url);
    client.socket.send(Buffer.from('{"seq":1,"type":"\xff"}', "latin1"), { binary: false });
    const code = await client.closed;
    const close = client.frames.find((frame) => frame.type === "close");
    assert.match(String(close?.data.reason), /UTF-8/, `closed with ${code} and no close frame`);
  });

  // Found by this fuzzer: zod used to report every invalid node (a million issues) and stop the event loop for seconds.
  it("answers a control promptly while a slave sends a tree_event of 200,000 invalid nodes", async (t: TestContext) => {
    const slave = await RawClient.open(url);
    slave.send({
      seq: 1,
      type: "register_slave",
      data: { agent: "fuzz", version: PROTOCOL_VERSION, name: "tree-bomb", id: 7, token: TEST_TOKEN },
    });
    await slave.next("ready");
    const client = await RawClient.open(url);
    await client.registerControl(TEST_TOKEN, "fuzz");

    // Timed from the moment the whole frame is with the kernel: the master's verdict on it
    // (closing the slave) and a ping sent then both come within the bound only if it does not stall.
    const bomb = `{"seq":2,"type":"tree_event","data":{"nodes":[${Array(200_000).fill("{}").join(",")}],"commands":[]}}`;
    await new Promise<void>((resolve, reject) =>
      slave.socket.send(bomb, (error) => (error ? reject(error) : resolve())),
    );
    const began = performance.now();
    client.send({ seq: 2, type: "ping_request", data: {} });
    const [reason, pinged] = await Promise.all([
      slave.closeReason().then((text) => ({ text, after: performance.now() - began })),
      client.next("ping_response", 60_000).then(() => performance.now() - began),
    ]);
    t.diagnostic(
      `ping answered after ${pinged.toFixed(0)} ms; the slave was closed after ${reason.after.toFixed(0)} ms with: ${reason.text}`,
    );
    client.socket.close();
    assert.ok(reason.after < 2000, `the slave's frame was judged after ${reason.after.toFixed(0)} ms`);
    assert.ok(pinged < 2000, `the ping took ${pinged.toFixed(0)} ms`);
  });
});
