/**
 * Fuzzing (issue 6): at least 100,000 random and mutated frames to a real
 * master over many connections at once, and garbage from workers on an
 * agent's worker sockets. Both must stay up, end every bad connection or node
 * with a one-line reason, and keep their memory flat.
 *
 * Every frame is drawn from a seeded PRNG. The seed is printed as a
 * diagnostic; FUZZ_SEED=<seed> replays the same frames (how the parallel
 * connections interleave still varies). FUZZ_FRAMES sets the budget.
 *
 * How the master part stays fast: each registered connection gets batches of
 * frames the master must survive (sent at once, then every request's response
 * awaited), and now and then one frame it must not survive, which ends the
 * connection. An oracle built from the catalogue says which is which, so a
 * mismatch (a close where none was due, a request left unanswered) is a
 * finding too.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { fileURLToPath } from "node:url";
import { after, before, describe, it, type TestContext } from "node:test";
import WebSocket from "ws";
import { decodeFrame } from "../shared/codec.js";
import { MAX_FRAME_BYTES, MAX_WEBSOCKET_PAYLOAD_BYTES } from "../shared/limits.js";
import type { Definition } from "../shared/definitions.js";
import { catalogue, definitionsByType, nodeStates } from "../shared/messages.js";
import { PROTOCOL_VERSION } from "../shared/version.js";
import { controlIn, makeApp, startLocal, waitForStates } from "./helpers/app.js";
import { TEST_TOKEN, control, slaveNames, startMaster, startSlave } from "./helpers/cluster.js";
import { olympusBin, run, stopAll, type Started } from "./helpers/processes.js";
import { RawClient } from "./helpers/raw-client.js";

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const FRAME_BUDGET = Number(process.env.FUZZ_FRAMES ?? 100_000);
/** Long enough for a registration to be answered while the master is busy with everyone else's junk. */
const HANDSHAKE_TIMEOUT_MS = 5000;
/** Past this the master's RSS has grown, not just fluctuated. */
const RSS_GROWTH_LIMIT_MB = 50;

after(stopAll);

// ---------------------------------------------------------------- randomness

/** mulberry32: small, fast and good enough to pick frames. */
class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(below: number): number {
    return Math.floor(this.next() * below);
  }
  chance(probability: number): boolean {
    return this.next() < probability;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  bytes(length: number): Buffer {
    const buffer = Buffer.alloc(length);
    for (let i = 0; i < length; i++) buffer[i] = this.int(256);
    return buffer;
  }
  /** An independent stream for one connection, so each connection's frames depend only on the seed. */
  fork(label: number): Random {
    return new Random(Math.imul(this.state ^ (label * 0x9e3779b9), 0x85ebca6b) ^ label);
  }
}

// ------------------------------------------------------ values and samples

const weirdNumbers = [0, -1, -0, 1.5, 2 ** 31, 2 ** 32 + 1, 2 ** 53, 2 ** 53 + 2, Number.MAX_SAFE_INTEGER, 1e308, -1e308, 5e-324];
/** None is digits only, so no made-up selector names a real slave by id. */
const weirdStrings = [
  "",
  " ",
  "\u0000",
  "ünïcödé ✓",
  "🚀🔥👻",
  "\u202eevil",
  "\ufeffbom",
  "\ud800",
  "\udfff\ud800",
  "a\nb\r\nc",
  "__proto__",
  "constructor",
  "toString",
  "%s%n%x",
  "../../etc/passwd",
  "null",
  "x".repeat(201),
  "é".repeat(3000),
];
/** Slave selectors that never match a connected slave. */
const ghostSlaves = ["nobody", "ghost 👻", "ünïcödé-ghost", "g".repeat(200), "-", "no/such"];

function randomValue(rng: Random, depth = 2): unknown {
  switch (rng.int(depth > 0 ? 8 : 6)) {
    case 0:
      return rng.pick(weirdNumbers);
    case 1:
      return rng.pick(weirdStrings);
    case 2:
      return rng.chance(0.5);
    case 3:
      return null;
    case 4:
      return rng.int(1000);
    case 5:
      return rng.bytes(rng.int(40)).toString("latin1");
    case 6:
      return Array.from({ length: rng.int(4) }, () => randomValue(rng, depth - 1));
    default:
      return Object.fromEntries(Array.from({ length: rng.int(4) }, (_, i) => [rng.pick(["a", "seq", "data", "__proto__", `k${i}`]), randomValue(rng, depth - 1)]));
  }
}

/** Big, but mostly under the frame limit. */
function bigValue(rng: Random): unknown {
  switch (rng.int(4)) {
    case 0:
      return "x".repeat(1000 + rng.int(200_000));
    case 1:
      return "🚀".repeat(1000 + rng.int(20_000));
    case 2:
      return Array.from({ length: 100 + rng.int(1000) }, (_, i) => i);
    default:
      return Object.fromEntries(Array.from({ length: 100 + rng.int(1000) }, (_, i) => [`key${i}`, i]));
  }
}

function nested(value: unknown, depth: number, asArray: boolean): unknown {
  let result = value;
  for (let i = 0; i < depth; i++) result = asArray ? [result] : { a: result };
  return result;
}

const commandId = (rng: Random) => `fuzz-${rng.int(2 ** 30).toString(36).padStart(8, "0")}`;
const maybeGhost = (rng: Random) => (rng.chance(0.5) ? rng.pick(ghostSlaves) : undefined);
const sampleNode = (rng: Random) => ({
  name: rng.pick(["boot", "web", "ünï", ""]),
  parent: rng.pick([null, "boot"]),
  state: rng.pick(nodeStates),
  pid: rng.pick([null, 4242]),
  error: rng.pick([null, "Traceback:\n  boom"]),
});
const slaveInfo = { id: 1, name: "someone", agent: "fuzz", version: PROTOCOL_VERSION, address: "127.0.0.1", connected_at: new Date(0).toISOString() };
const runningCommand = (rng: Random) => ({ command_id: commandId(rng), slave: "someone", argv: ["ls"], started_at: new Date(0).toISOString() });

/** Valid data for each type in the catalogue; a type added later without a sample is fuzzed from `{}`. */
const samples: Record<string, (rng: Random) => Record<string, unknown>> = {
  hello: () => ({ version: PROTOCOL_VERSION }),
  // A name of its own: a second registration of a connected slave's name is refused.
  register_slave: (rng) => {
    const id = 2 ** 45 + rng.int(2 ** 30);
    return { agent: "fuzz", version: PROTOCOL_VERSION, name: `fuzz-stranger-${id}`, id, token: TEST_TOKEN };
  },
  register_control: () => ({ agent: "fuzz", version: PROTOCOL_VERSION, token: TEST_TOKEN }),
  heartbeat: (rng) => ({ last_seq: rng.int(10) }),
  resume: (rng) => ({ session_token: rng.bytes(24).toString("base64url"), last_seq: rng.int(10) }),
  continue: () => ({ last_seq: 0 }),
  invalidate: () => ({}),
  ready: () => ({}),
  close: () => ({ reason: "fuzz says goodbye" }),
  list_slaves_request: () => ({}),
  ping_request: (rng) => ({ slave: maybeGhost(rng) }),
  tree_event: (rng) => ({ nodes: [sampleNode(rng), sampleNode(rng)], commands: [{ name: "test", aliases: ["t"], parent: "boot" }] }),
  node_state_event: (rng) => ({ node: sampleNode(rng) }),
  slave_event: () => ({ slave: slaveInfo, connected: true }),
  status_request: (rng) => ({ slave: maybeGhost(rng) }),
  watch_request: () => ({}),
  restart_request: (rng) => ({ slave: maybeGhost(rng), node: rng.pick([undefined, "boot"]) }),
  run_request: (rng) => ({ slave: maybeGhost(rng), command_id: commandId(rng), command: "test", args: ["-v"], terminal: rng.pick([null, { cols: 80, rows: 24 }]) }),
  exec_request: (rng) => ({ slave: maybeGhost(rng), command_id: commandId(rng), program: "ls", args: [], cwd: "/", terminal: { cols: 80, rows: 24, term: "xterm" } }),
  command_output_event: (rng) => ({ command_id: commandId(rng), stream: "stdout", data: "aGVsbG8=" }),
  command_input_event: (rng) => ({ command_id: commandId(rng), data: "aGVsbG8=", eof: rng.pick([undefined, true]) }),
  command_ack_event: (rng) => ({ command_id: commandId(rng), bytes: 1 + rng.int(65536) }),
  command_resize_event: (rng) => ({ command_id: commandId(rng), cols: 100, rows: 40 }),
  command_signal_event: (rng) => ({ command_id: commandId(rng), signal: "SIGINT" }),
  command_exit_event: (rng) => ({ command_id: commandId(rng), code: 0, signal: null }),
  commands_request: () => ({}),
  command_event: (rng) => ({ command: runningCommand(rng), running: true }),
};

const catalogueTypes = catalogue.map((definition) => definition.type);
const responseTypes = catalogue.flatMap((definition) => (definition.kind === "request" ? [definition.responseType] : []));
const madeUpTypes = ["launch_rockets_request", "_request", "x_event", "_event", "frobnicate", "constructor_request", "__proto__", "ping_reply", "close_request"];

// ------------------------------------------------------------------ frames

/** One frame to send, as the master will see it. */
interface Candidate {
  payload: string | Buffer;
  binary: boolean;
  /** What was done to it, for failure messages. */
  label: string;
}

type FrameObject = Record<string, unknown>;

/** A random key path inside the frame (top level or in data, or one level deeper). */
function randomSlot(rng: Random, frame: FrameObject): { holder: Record<string, unknown>; key: string } {
  let holder: Record<string, unknown> = frame;
  if (rng.chance(0.8) && typeof frame.data === "object" && frame.data !== null) {
    holder = frame.data as Record<string, unknown>;
    const inner = Object.entries(holder).filter(([, value]) => typeof value === "object" && value !== null && !Array.isArray(value));
    if (inner.length > 0 && rng.chance(0.3)) holder = rng.pick(inner)[1] as Record<string, unknown>;
  }
  const keys = Object.keys(holder);
  const key = keys.length > 0 && rng.chance(0.85) ? rng.pick(keys) : rng.pick(["seq", "type", "data", "extra", "__proto__"]);
  return { holder, key };
}

const mutations: [string, (rng: Random, frame: FrameObject) => void][] = [
  ["drop", (rng, frame) => {
    const { holder, key } = randomSlot(rng, frame);
    delete holder[key];
  }],
  ["retype", (rng, frame) => set(rng, frame, randomValue(rng))],
  ["oversize", (rng, frame) => set(rng, frame, bigValue(rng))],
  // Deeper than a few thousand would overflow JSON.stringify here; the "deep value" text mutation goes deeper.
  ["nest", (rng, frame) => set(rng, frame, nested(rng.pick([1, "x", {}, []]), 1 + rng.int(rng.chance(0.1) ? 2000 : 50), rng.chance(0.5)))],
  ["unicode", (rng, frame) => set(rng, frame, rng.pick(weirdStrings))],
  ["number", (rng, frame) => set(rng, frame, rng.pick(weirdNumbers))],
  ["extra field", (rng, frame) => {
    const holder = typeof frame.data === "object" && frame.data !== null ? (frame.data as Record<string, unknown>) : frame;
    holder[`extra_${rng.int(9)}`] = randomValue(rng);
  }],
  ["seq", (rng, frame) => void (frame.seq = rng.pick([null, undefined, -1, 1.5, "7", 2 ** 53, 1e308, [], {}]))],
  ["type", (rng, frame) => void (frame.type = rng.pick([...catalogueTypes, ...responseTypes, ...madeUpTypes, ...weirdStrings, 42, null]))],
  ["data", (rng, frame) => void (frame.data = rng.pick([null, [], "data", 0, undefined, { nested: { deeper: {} } }]))],
];

function set(rng: Random, frame: FrameObject, value: unknown): void {
  const { holder, key } = randomSlot(rng, frame);
  holder[key] = value;
}

/** Puts an array nested up to 100,000 deep into `data`: deeper than JSON.stringify could build here. */
function deepValue(rng: Random, text: string): string {
  const depth = 1 + rng.int(rng.chance(0.1) ? 100_000 : 10_000);
  return text.replace('"data":{', `"data":{"deep":${"[".repeat(depth)}${"]".repeat(depth)},`);
}

/** Text-level damage after serialising. */
const textMutations: [string, (rng: Random, text: string) => string][] = [
  ["truncated", (rng, text) => text.slice(0, rng.int(text.length))],
  ["trailing junk", (rng, text) => text + rng.pick(["x", "}", " \n\t", "\u0000", "{}", ","])],
  ["char flipped", (rng, text) => { const at = rng.int(text.length); return text.slice(0, at) + String.fromCharCode(rng.int(128)) + text.slice(at + 1); }],
  ["duplicate key", (rng, text) => text.replace("{", `{"type":${JSON.stringify(rng.pick(catalogueTypes))},`)],
  ["odd number literal", (rng, text) => text.replace(/"seq":\d+/, `"seq":${rng.pick(["1e999", "-0", "1.0", "01", "0x10", "1e2"])}`)],
  ["bom", (_, text) => `\ufeff${text}`],
  ["deep value", deepValue],
];

function randomText(rng: Random): string {
  switch (rng.int(5)) {
    case 0:
      return rng.pick(["", " ", "null", "0", "[]", '"text"', "true", "-1e999", "{", "}{", '{"seq":1}', "[{}]"]);
    case 1:
      return Array.from({ length: rng.int(200) }, () => String.fromCharCode(32 + rng.int(95))).join("");
    case 2:
      // Any code points, lone surrogates included; what goes on the wire is their UTF-8 (with U+FFFD for those).
      return Buffer.from(Array.from({ length: rng.int(100) }, () => String.fromCharCode(rng.int(0x10000))).join("")).toString();
    case 3:
      return "[".repeat(1 + rng.int(rng.chance(0.1) ? 100_000 : 10_000)); // deep and unclosed
    default:
      return JSON.stringify(nested({}, 1 + rng.int(2000), rng.chance(0.5)));
  }
}

/** Mostly the sender's next seq; sometimes none (as handshake and heartbeat frames), or one already used. */
function pickSeq(rng: Random, next: number): number | null {
  const roll = rng.next();
  if (roll < 0.08) return null;
  if (roll < 0.11) return Math.max(1, next - 1 - rng.int(10));
  return next;
}

/** A frame of `type` from its sample, numbered `seq`, with `mutationCount` mutations and perhaps damage to its text. */
function catalogueFrame(rng: Random, type: string, mutationCount: number, textDamage: number, seq: number): Candidate {
  const sample = Object.hasOwn(samples, type) ? samples[type] : undefined;
  const data = sample?.(rng) ?? (type.endsWith("_response") ? { seq: 1_000_000 + rng.int(1000) } : {});
  const frame: FrameObject = { seq: pickSeq(rng, seq), type, data: JSON.parse(JSON.stringify(data)) };
  const labels = [type];
  for (let i = 0; i < mutationCount; i++) {
    const [name, mutate] = rng.pick(mutations);
    mutate(rng, frame);
    labels.push(name);
  }
  let text = JSON.stringify(frame) ?? "";
  if (rng.chance(textDamage)) {
    const [name, mutate] = rng.pick(textMutations);
    text = mutate(rng, text);
    labels.push(name);
  }
  return { payload: text, binary: false, label: labels.join(" / ") };
}

/** A request or event type nobody defined, with odd data: the master answers or drops it, whatever the data. */
function unknownTypeFrame(rng: Random, seq: number): Candidate {
  const type = `${rng.pick(["launch_rockets", "x", "", "constructor", "ünïcödé", "__proto__", "ping_"])}${rng.pick(["_request", "_event"])}`;
  const data = Object.fromEntries(Array.from({ length: rng.int(4) }, (_, i) => [rng.pick(["a", "seq", "slave", "__proto__", `k${i}`]), rng.chance(0.1) ? bigValue(rng) : randomValue(rng)]));
  let text = JSON.stringify({ seq: pickSeq(rng, seq), type, data });
  if (rng.chance(0.05)) text = deepValue(rng, text);
  return { payload: text, binary: false, label: `${type} (unknown)` };
}

/** Handshake and session messages a registered peer may send, and what they do then; others are not predicted. */
const plainAfterRegistration: Record<string, Outcome["kind"]> = {
  close: "goodbye",
  heartbeat: "ignored",
  register_slave: "fatal",
  register_control: "fatal",
  resume: "fatal",
};

/** Types a registered peer may send (events, requests, heartbeats), and requests it may not (answered with an error). */
function typesFor(role: "slave" | "control"): { sendable: string[]; refused: string[] } {
  const survives = (definition: Definition) => definition.kind !== "plain" || plainAfterRegistration[definition.type] === "ignored";
  const own = catalogue.filter((definition) => survives(definition) && definition.from.includes(role));
  const refused = catalogue.filter((definition) => definition.kind === "request" && !definition.from.includes(role));
  return { sendable: own.map((definition) => definition.type), refused: refused.map((definition) => definition.type) };
}
const typesByRole = { slave: typesFor("slave"), control: typesFor("control") };

/** What a registered peer's batches are made of: mostly frames the master must survive (the oracle still decides). */
function batchFrame(rng: Random, role: "slave" | "control", seq: number): Candidate {
  const { sendable, refused } = typesByRole[role];
  const roll = rng.next();
  if (roll < 0.3) return catalogueFrame(rng, rng.pick(sendable), 0, 0, seq);
  if (roll < 0.45 && refused.length > 0) return catalogueFrame(rng, rng.pick(refused), rng.int(3), 0, seq);
  if (roll < 0.7) return unknownTypeFrame(rng, seq);
  if (roll < 0.8) return catalogueFrame(rng, rng.pick(responseTypes), rng.int(3), 0.1, seq);
  return catalogueFrame(rng, rng.pick(sendable), 1, 0.05, seq);
}

/** Any frame at all: what strangers send first, and what ends a registered connection. */
function anyFrame(rng: Random, role: PeerKind, seq: number): Candidate {
  const roll = rng.next();
  const strangerTypes = ["register_slave", "register_control", ...(definitionsByType.has("resume") ? ["resume"] : [])];
  const type = () => (role === "stranger" && rng.chance(0.5) ? rng.pick(strangerTypes) : rng.pick([...catalogueTypes, ...catalogueTypes, ...responseTypes, ...madeUpTypes]));
  if (roll < 0.2) return catalogueFrame(rng, type(), 0, 0, seq);
  if (roll < 0.75) return catalogueFrame(rng, type(), 1 + rng.int(3), 0.1, seq);
  if (roll < 0.85) return { payload: randomText(rng), binary: false, label: "random text" };
  if (roll < 0.92) return { payload: rng.chance(0.5) ? rng.bytes(rng.int(300)) : Buffer.from(JSON.stringify({ seq: 1, type: "ping_request", data: {} })), binary: true, label: "binary" };
  if (roll < 0.985) return { payload: Buffer.concat([rng.bytes(rng.int(20)), Buffer.from([0xff, 0xc3, 0x28]), rng.bytes(rng.int(20))]), binary: false, label: "invalid UTF-8" };
  if (roll < 0.995) return { payload: JSON.stringify({ seq: 1, type: "ping_request", data: { slave: "x".repeat(MAX_FRAME_BYTES + rng.int(2 * MAX_FRAME_BYTES)) } }), binary: false, label: "over the frame limit" };
  return { payload: "y".repeat(MAX_WEBSOCKET_PAYLOAD_BYTES + 1 + rng.int(1000)), binary: false, label: "over the WebSocket limit" };
}

// ------------------------------------------------------------------ oracle

type PeerKind = "slave" | "control" | "stranger";

/** A master with sessions (heartbeats, resume) drops numbered frames it has seen already, unread. */
const SESSIONS = definitionsByType.has("heartbeat");

/** What the master must do with one frame. */
type Outcome =
  | { kind: "fatal" } // close {reason}, or the WebSocket layer's close for frames past its limit
  | { kind: "answered"; seq: number; responseType: string; unknownType: boolean }
  | { kind: "ignored" }
  | { kind: "goodbye" } // our own close: the master just hangs up
  | { kind: "ready" } // a stranger's valid registration
  | { kind: "invalidated" }; // a stranger's resume of a session that does not exist

/** The outcome, and the highest seq the master has from this peer afterwards. */
interface Prediction {
  outcome: Outcome;
  lastSeq: number;
}

/**
 * The protocol's rules (docs/protocol.md) for a frame from a registered peer
 * or a stranger, given the highest seq the master has from it so far; null
 * when the outcome depends on timing or on rules this test does not know.
 */
function predict(frame: Candidate, role: PeerKind, lastSeq: number): Prediction | null {
  const fatal: Prediction = { outcome: { kind: "fatal" }, lastSeq };
  if (frame.binary || typeof frame.payload !== "string" || Buffer.byteLength(frame.payload) > MAX_FRAME_BYTES) return fatal;
  let decoded: ReturnType<typeof decodeFrame>;
  try {
    decoded = decodeFrame(frame.payload);
  } catch {
    return fatal;
  }
  const { seq, type, data } = decoded;
  const definition = definitionsByType.get(type);
  let outcome: Outcome | null;
  if (role === "stranger") outcome = predictStranger(type, data, definition);
  else if (SESSIONS && seq !== null && seq <= lastSeq) return { outcome: { kind: "ignored" }, lastSeq };
  else outcome = predictRegistered(seq, type, data, definition, role);
  return outcome === null ? null : { outcome, lastSeq: seq !== null && seq > lastSeq ? seq : lastSeq };
}

function predictStranger(type: string, data: Record<string, unknown>, definition: Definition | undefined): Outcome {
  if (definition?.kind !== "plain") return { kind: "fatal" };
  const parsed = definition.data.safeParse(data);
  if (!parsed.success) return { kind: "fatal" };
  if (type === "resume") return { kind: "invalidated" }; // no session has a random token
  if (type !== "register_slave" && type !== "register_control") return { kind: "fatal" };
  const { version, token } = parsed.data as { version: string; token: string };
  return /^2\./.test(version) && token === TEST_TOKEN ? { kind: "ready" } : { kind: "fatal" };
}

function predictRegistered(seq: number | null, type: string, data: Record<string, unknown>, definition: Definition | undefined, role: "slave" | "control"): Outcome | null {
  if (type.endsWith("_response")) {
    // Only a slave has requests from the master waiting; those have small seqs.
    if (role === "slave" && typeof data.seq === "number" && data.seq < 1_000_000) return null;
    return { kind: "ignored" };
  }
  const answer = (unknownType: boolean, responseType: string): Outcome =>
    seq === null ? { kind: "fatal" } : { kind: "answered", seq, responseType, unknownType };
  if (definition === undefined) {
    if (type.endsWith("_request")) return answer(true, type.replace(/_request$/, "_response"));
    return type.endsWith("_event") ? { kind: "ignored" } : { kind: "fatal" };
  }
  if (!definition.from.includes(role)) return definition.kind === "request" ? answer(false, definition.responseType) : { kind: "fatal" };
  if (definition.kind === "request") {
    if (seq === null || !definition.request.safeParse(data).success) return { kind: "fatal" };
    return answer(false, definition.responseType);
  }
  if (!definition.data.safeParse(data).success) return { kind: "fatal" };
  if (definition.kind === "event") return { kind: "ignored" };
  const kind = plainAfterRegistration[type];
  return kind === undefined ? null : ({ kind } as Outcome);
}

// ---------------------------------------------------------------- the peer

interface Findings {
  frames: number;
  connections: number;
  /** Connections that sent a frame the master must not survive. */
  badConnections: number;
  /** Unregistered connections, and how many of them registered validly (or resumed and were refused), then sent junk. */
  strangers: number;
  registeredThenJunk: number;
  responses: number;
  unknownRequestsAnswered: number;
  /** Connections the WebSocket layer closed (1009: a frame past its limit), with no close frame from the master. */
  webSocketCloses: Map<number, number>;
  /** Close reasons with digits and quoted parts folded, and how often each came. */
  reasons: Map<string, number>;
  problems: string[];
  /** Set when a worker failed: everyone stops, so the failure shows at once. */
  stopped: boolean;
}

const keepGoing = (findings: Findings) => !findings.stopped && findings.frames < FRAME_BUDGET;

/** Every connection still open, so a failed run can close them all. */
const openPeers = new Set<FuzzPeer>();

/** Runs a worker; an exception in it (a bug here, or the master gone) stops the whole run. */
async function guarded(findings: Findings, worker: Promise<unknown>): Promise<void> {
  try {
    await worker;
  } catch (error) {
    findings.problems.push(`a fuzz worker failed: ${(error as Error).stack ?? error}`);
    findings.stopped = true;
  }
}

/**
 * One WebSocket to the master: records its close, answers its requests,
 * sends heartbeats when `ready` asks for them, and awaits responses.
 */
class FuzzPeer {
  registered = false;
  /** A resume was answered with `invalidate`. */
  invalidated = false;
  /** `data.reason` of the master's close frame, if one came. */
  closeReason: unknown = undefined;
  wsClose: { code: number; reason: string } | null = null;
  /** The highest seq the master has from us (what the oracle needs), and the highest we have from it. */
  lastSeq = 0;
  private lastFromMaster = 0;
  private heartbeats: NodeJS.Timeout | null = null;
  private readonly awaited = new Map<number, { responseType: string; label: string; unknownType: boolean }>();
  private wake: (() => void) | null = null;

  private constructor(
    readonly socket: WebSocket,
    private readonly findings: Findings,
  ) {
    socket.on("message", (payload, isBinary) => {
      this.onMessage(payload.toString(), isBinary);
      this.wake?.();
    });
    openPeers.add(this);
    socket.on("close", (code, reason) => {
      openPeers.delete(this);
      if (this.heartbeats !== null) clearInterval(this.heartbeats);
      this.wsClose = { code, reason: reason.toString() };
      this.wake?.();
    });
    socket.on("error", () => {}); // the close that follows says enough
  }

  static async open(url: string, findings: Findings): Promise<FuzzPeer> {
    const peer = new FuzzPeer(new WebSocket(url), findings);
    findings.connections++;
    await new Promise<void>((resolve, reject) => {
      peer.socket.once("open", () => resolve());
      peer.socket.once("error", reject);
    });
    return peer;
  }

  get isOpen(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  get waitingFor(): number {
    return this.awaited.size;
  }

  private onMessage(text: string, isBinary: boolean): void {
    let frame: { seq?: number; type: string; data: Record<string, unknown> };
    try {
      frame = JSON.parse(text);
    } catch {
      this.findings.problems.push(`the master sent a frame that is not JSON: ${text.slice(0, 100)}`);
      return;
    }
    if (isBinary) this.findings.problems.push(`the master sent a binary frame: ${text.slice(0, 100)}`);
    if (typeof frame.seq === "number") this.lastFromMaster = Math.max(this.lastFromMaster, frame.seq);
    if (frame.type === "close") this.closeReason = frame.data?.reason;
    else if (frame.type === "ready") this.onReady(frame.data);
    else if (frame.type === "invalidate") this.invalidated = true;
    else if (frame.type.endsWith("_request")) {
      // Answer at once, so no control's forwarded request waits on a fuzz slave.
      const type = frame.type.replace(/_request$/, "_response");
      this.socket.send(JSON.stringify({ seq: ++this.lastSeq, type, data: { seq: frame.seq, error: "a fuzz peer serves no requests" } }));
    } else if (frame.type.endsWith("_response")) this.settle(frame.type, frame.data ?? {});
  }

  /** A master with sessions drops a peer that sends no heartbeats, and keeps what it sent until acknowledged. */
  private onReady(data: Record<string, unknown>): void {
    this.registered = true;
    const interval = data.heartbeat_interval;
    if (typeof interval !== "number" || !this.isOpen) return;
    this.heartbeats = setInterval(() => {
      if (this.isOpen) this.socket.send(JSON.stringify({ type: "heartbeat", data: { last_seq: this.lastFromMaster } }));
    }, (interval * 1000) / 2);
  }

  /** Ends a session the master should have kept: `close {reason}`, then the socket. */
  async goodbye(): Promise<void> {
    if (this.isOpen) this.socket.send(JSON.stringify({ seq: ++this.lastSeq, type: "close", data: { reason: "fuzz run over" } }));
    this.socket.close();
    await this.until(() => this.wsClose !== null, 5000);
  }

  private settle(type: string, data: Record<string, unknown>): void {
    const awaited = this.awaited.get(data.seq as number);
    if (awaited === undefined) return;
    this.awaited.delete(data.seq as number);
    this.findings.responses++;
    if (type !== awaited.responseType) this.findings.problems.push(`${awaited.label}: answered by ${type}, expected ${awaited.responseType}`);
    if (!awaited.unknownType) return;
    if (typeof data.error === "string" && data.error !== "") this.findings.unknownRequestsAnswered++;
    else this.findings.problems.push(`${awaited.label}: a request of unknown type got no error: ${JSON.stringify(data)}`);
  }

  send(frame: Candidate): void {
    this.findings.frames++;
    this.socket.send(frame.payload, { binary: frame.binary });
  }

  expect(outcome: Extract<Outcome, { kind: "answered" }>, label: string): boolean {
    if (this.awaited.has(outcome.seq)) return false;
    this.awaited.set(outcome.seq, { responseType: outcome.responseType, label, unknownType: outcome.unknownType });
    return true;
  }

  forgetAwaited(): void {
    this.awaited.clear();
  }

  /** Resolves true once `done()` holds, false after `timeoutMs`. */
  async until(done: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 250));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
    return true;
  }

  async register(role: "slave" | "control", name: string, id: number): Promise<void> {
    const common = { agent: "fuzz", version: PROTOCOL_VERSION, token: TEST_TOKEN };
    const data = role === "slave" ? { ...common, name, id } : common;
    this.send({ payload: JSON.stringify({ seq: 1, type: `register_${role}`, data }), binary: false, label: "register" });
    this.lastSeq = 1;
    await this.until(() => this.registered || this.wsClose !== null, 10_000);
    if (!this.registered) throw new Error(`the master refused to register a ${role}: ${String(this.closeReason)}`);
  }

  /** After a frame the master must not survive: the connection must end, with a reason. */
  async expectClose(label: string, tooBig = false): Promise<void> {
    this.findings.badConnections++;
    if (!(await this.until(() => this.wsClose !== null, 10_000))) {
      this.findings.problems.push(`${label}: the master kept the connection open for 10 s`);
      this.socket.terminate();
      return;
    }
    const { code, reason } = this.wsClose as { code: number; reason: string };
    let shown: string;
    if (this.closeReason !== undefined) {
      shown = String(this.closeReason);
      if (typeof this.closeReason !== "string" || this.closeReason.trim() === "") this.findings.problems.push(`${label}: close with an empty reason ${JSON.stringify(this.closeReason)}`);
      else if (this.closeReason.startsWith("internal error")) this.findings.problems.push(`${label}: ${this.closeReason}`);
    } else if (tooBig && code === 1009) {
      // A frame past the WebSocket limit ends in the WebSocket layer, with status 1009 and no reason (docs/protocol.md, Limits).
      shown = `(WebSocket close ${code}${reason === "" ? ", no reason" : `: ${reason}`})`;
      this.findings.webSocketCloses.set(code, (this.findings.webSocketCloses.get(code) ?? 0) + 1);
    } else {
      shown = `(no close frame) ${code}`;
      this.findings.problems.push(`${label}: ended (${code} ${JSON.stringify(reason)}) without a close frame`);
    }
    const folded = shown.replace(/"(?:[^"\\]|\\.)*"/g, '"…"').replace(/\d+/g, "N").slice(0, 110);
    this.findings.reasons.set(folded, (this.findings.reasons.get(folded) ?? 0) + 1);
  }
}

// ------------------------------------------------------------- the workers

/** Draws frames, numbered after `lastSeq`, until the oracle predicts what `accept` wants. */
function draw(rng: Random, role: PeerKind, lastSeq: number, accept: (prediction: Prediction) => boolean, make = (seq: number) => anyFrame(rng, role, seq)): { frame: Candidate; prediction: Prediction } {
  for (;;) {
    const frame = make(lastSeq + 1);
    const prediction = predict(frame, role, lastSeq);
    if (prediction !== null && accept(prediction)) return { frame, prediction };
  }
}

const isTooBig = (frame: Candidate) => frame.payload.length > MAX_WEBSOCKET_PAYLOAD_BYTES;
const ending = ({ outcome }: Prediction) => outcome.kind === "fatal" || outcome.kind === "goodbye";
const fatal = ({ outcome }: Prediction) => outcome.kind === "fatal";

/**
 * A registered slave or control: batches of frames the master must survive,
 * each followed by waiting for every response; a quarter of the batches end
 * with one it must not survive, and the next connection takes over.
 */
async function registeredPeer(url: string, findings: Findings, rng: Random, role: "slave" | "control", index: number): Promise<void> {
  for (let connection = 0; keepGoing(findings); connection++) {
    const peer = await FuzzPeer.open(url, findings);
    await peer.register(role, `fuzz-${index}-${connection}`, 2 ** 40 + index * 1_000_000 + connection);
    let ended = false;
    while (!ended && keepGoing(findings)) ended = await sendBatch(peer, findings, rng, role);
    if (!ended) await peer.goodbye();
  }
}

/** Returns true when the batch ended the connection. */
async function sendBatch(peer: FuzzPeer, findings: Findings, rng: Random, role: "slave" | "control"): Promise<boolean> {
  const labels: string[] = [];
  // A seq far ahead would make the master drop every later frame as seen already: keep those for the end.
  const survivable = ({ outcome, lastSeq }: Prediction) => (outcome.kind === "answered" || outcome.kind === "ignored") && lastSeq < peer.lastSeq + 1_000_000;
  for (let size = 10 + rng.int(70); labels.length < size; ) {
    const { frame, prediction } = draw(rng, role, peer.lastSeq, survivable, (seq) => batchFrame(rng, role, seq));
    if (prediction.outcome.kind === "answered" && !peer.expect(prediction.outcome, frame.label)) continue; // seq already awaited
    peer.send(frame);
    peer.lastSeq = prediction.lastSeq;
    labels.push(frame.label);
  }
  if (rng.chance(0.25)) {
    const { frame, prediction } = draw(rng, role, peer.lastSeq, ending);
    peer.send(frame);
    peer.forgetAwaited(); // the session ends: earlier requests may go unanswered
    if (prediction.outcome.kind === "fatal") await peer.expectClose(`${role} ${frame.label}`, isTooBig(frame));
    else if (!(await peer.until(() => peer.wsClose !== null, 10_000))) findings.problems.push(`${role} said close, but the master kept the connection open`);
    return true;
  }
  const answered = await peer.until(() => peer.waitingFor === 0 || peer.wsClose !== null, 15_000);
  if (peer.wsClose !== null) {
    findings.problems.push(`${role}: the master closed a connection it should have kept (${String(peer.closeReason)}); last frames: ${labels.slice(-3).join("; ")}`);
    return true;
  }
  if (!answered) findings.problems.push(`${role}: ${peer.waitingFor} requests unanswered after 15 s`);
  peer.forgetAwaited();
  return false;
}

/**
 * Unregistered connections: one frame each (a registration gone wrong, or
 * junk). A valid registration, or a resume answered with `invalidate`, is
 * followed by junk.
 */
async function stranger(url: string, findings: Findings, rng: Random): Promise<void> {
  while (keepGoing(findings)) {
    const peer = await FuzzPeer.open(url, findings);
    findings.strangers++;
    const { frame, prediction } = draw(rng, "stranger", 0, () => true);
    const { outcome } = prediction;
    peer.send(frame);
    peer.lastSeq = prediction.lastSeq; // our answers to the master's requests go on from here
    if (outcome.kind !== "ready" && outcome.kind !== "invalidated") {
      await peer.expectClose(`stranger ${frame.label}`, isTooBig(frame));
      if (peer.registered) findings.problems.push(`stranger ${frame.label}: registered, though the frame is not a valid registration`);
      continue;
    }
    await peer.until(() => peer.registered || peer.invalidated || peer.wsClose !== null, 10_000);
    let junk: Candidate | null = null;
    if (peer.registered) junk = draw(rng, frame.label.startsWith("register_slave") ? "slave" : "control", peer.lastSeq, fatal).frame;
    else if (peer.invalidated) junk = draw(rng, "stranger", 0, fatal).frame;
    else findings.problems.push(`stranger ${frame.label}: neither ${outcome.kind === "ready" ? "ready" : "invalidate"} nor close`);
    if (junk !== null) {
      peer.send(junk);
      findings.registeredThenJunk++;
    }
    await peer.expectClose(`stranger ${frame.label}, then ${junk?.label ?? "nothing"}`, junk !== null && isTooBig(junk));
  }
}

/** Connections that never register must be closed after the handshake timeout. */
async function silentPeers(url: string, findings: Findings, count: number): Promise<void> {
  await Promise.all(
    Array.from({ length: count }, async () => {
      const peer = await FuzzPeer.open(url, findings);
      await peer.expectClose("silent");
      if (!/^no register_slave or register_control within \d+ ms$/.test(String(peer.closeReason))) {
        findings.problems.push(`silent: closed with ${String(peer.closeReason)}`);
      }
    }),
  );
}

/** A masked WebSocket frame, built by hand so it can break the rules. */
function wsFrame(firstByte: number, payload: Buffer, lengthBytes?: Buffer): Buffer {
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ (mask[i % 4] as number)));
  const length = lengthBytes ?? Buffer.from([payload.length < 126 ? payload.length : 126]);
  const extended = lengthBytes === undefined && payload.length >= 126 ? Buffer.from([payload.length >> 8, payload.length & 255]) : Buffer.alloc(0);
  return Buffer.concat([Buffer.from([firstByte]), Buffer.from([(length[0] as number) | 0x80]), length.subarray(1), extended, mask, masked]);
}

/** The frames a server sent after its 101 response (unmasked), as far as they are complete. */
function serverFrames(bytes: Buffer): { opcode: number; payload: Buffer }[] {
  const frames: { opcode: number; payload: Buffer }[] = [];
  let at = bytes.indexOf("\r\n\r\n");
  if (at < 0 || !bytes.subarray(0, 12).toString().includes("101")) return frames;
  at += 4;
  while (at + 2 <= bytes.length) {
    let length = (bytes[at + 1] as number) & 0x7f;
    let header = 2;
    if (length === 126) [length, header] = [bytes.readUInt16BE(at + 2), 4];
    else if (length === 127) [length, header] = [Number(bytes.readBigUInt64BE(at + 2)), 10];
    if (at + header + length > bytes.length) break;
    frames.push({ opcode: (bytes[at] as number) & 0x0f, payload: bytes.subarray(at + header, at + header + length) });
    at += header + length;
  }
  return frames;
}

/** What the master answered on a raw connection: the HTTP status, then its close frame(s). */
function describeRawAnswer(bytes: Buffer): { text: string; closing: boolean } {
  const status = bytes.toString("latin1").split("\r\n")[0] || "(nothing)";
  const parts = [status];
  let closing = false;
  for (const { opcode, payload } of serverFrames(bytes)) {
    const text = payload.toString();
    if (opcode === 1 && text.includes('"type":"close"')) parts.push(`close ${JSON.stringify(JSON.parse(text).data.reason)}`);
    if (opcode === 8) {
      closing = true;
      parts.push(`WebSocket close ${payload.length >= 2 ? payload.readUInt16BE(0) : "(no code)"}${payload.length > 2 ? ` ${payload.subarray(2)}` : ""}`);
    }
  }
  return { text: parts.join(", then "), closing };
}

/**
 * Below WebSocket: junk where the HTTP request or the frames should be. Each
 * connection must end, or get the master's WebSocket close frame, by the
 * handshake timeout (after its close frame, ws waits up to 30 s for ours,
 * which a raw client never sends).
 */
async function rawTcpJunk(port: number, findings: Findings, rng: Random): Promise<string[]> {
  const upgrade = (version = 13) =>
    `GET /api/socket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${rng.bytes(16).toString("base64")}\r\nSec-WebSocket-Version: ${version}\r\n\r\n`;
  const cases: [string, () => (string | Buffer)[]][] = [
    ["random bytes", () => [rng.bytes(1 + rng.int(2000)), "\r\n\r\n"]],
    ["plain GET", () => ["GET /api/socket HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"]],
    ["bad WebSocket version", () => [upgrade(99)]],
    ["unmasked frame", () => [upgrade(), Buffer.from([0x81, 5, ...Buffer.from("hello")])]],
    ["reserved opcode", () => [upgrade(), wsFrame(0x83, Buffer.from("x"))]],
    ["RSV bits set", () => [upgrade(), wsFrame(0xf1, Buffer.from("{}"))]],
    ["2^63 byte length", () => [upgrade(), wsFrame(0x81, Buffer.alloc(0), Buffer.from([127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))]],
    ["random frame bytes", () => [upgrade(), rng.bytes(1 + rng.int(500))]],
  ];
  const attempts = [0, 1, 2].flatMap((round) => cases.map(([name, payloads]) => ({ name, round, payloads: payloads() })));
  const answers = await Promise.all(
    attempts.map(async ({ name, round, payloads }) => {
      const socket = tcpConnect(port, "127.0.0.1");
      let received = Buffer.alloc(0);
      let closed = false;
      const done = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, HANDSHAKE_TIMEOUT_MS + 3000);
        const check = () => {
          if (!closed && !describeRawAnswer(received).closing) return;
          clearTimeout(timer);
          resolve();
        };
        socket.on("data", (chunk) => {
          received = Buffer.concat([received, chunk]);
          check();
        });
        socket.on("close", () => {
          closed = true;
          check();
        });
      });
      socket.on("error", () => {});
      for (const payload of payloads) socket.write(payload);
      findings.frames++;
      await done;
      socket.destroy();
      const answer = describeRawAnswer(received);
      if (!closed && !answer.closing) findings.problems.push(`raw TCP, ${name}: neither closed nor a close frame in time (${answer.text})`);
      return round === 0 ? `${name}: ${answer.text}` : null;
    }),
  );
  return answers.filter((answer): answer is string => answer !== null);
}

// ------------------------------------------------------------------ helpers

const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1]) / 1024;
}

/** The master's inspector: a full GC on demand, so a memory reading counts what is live rather than garbage. */
class Inspector {
  private nextId = 1;
  private readonly waiting = new Map<number, (result: Record<string, unknown>) => void>();

  private constructor(private readonly socket: WebSocket) {
    socket.on("message", (payload) => {
      const { id, result } = JSON.parse(payload.toString()) as { id?: number; result?: Record<string, unknown> };
      if (id !== undefined) this.waiting.get(id)?.(result ?? {});
    });
  }

  /** Connects to the inspector whose address the process printed. */
  static async open(output: string): Promise<Inspector> {
    const address = /Debugger listening on (ws:\/\/\S+)/.exec(output)?.[1];
    if (address === undefined) throw new Error(`the master printed no inspector address:\n${output}`);
    const socket = new WebSocket(address);
    await new Promise((resolve, reject) => {
      socket.once("open", resolve);
      socket.once("error", reject);
    });
    return new Inspector(socket);
  }

  private call(method: string): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.socket.send(JSON.stringify({ id, method }));
    });
  }

  /** RSS and live JS heap, in MB, right after a full GC. */
  async memory(pid: number): Promise<{ rss: number; heap: number }> {
    await this.call("HeapProfiler.collectGarbage");
    const { usedSize } = (await this.call("Runtime.getHeapUsage")) as { usedSize: number };
    return { rss: rssMb(pid), heap: usedSize / 1024 / 1024 };
  }

  close(): void {
    this.socket.close();
  }
}

/** Starts `start` with the inspector on for the process it spawns (NODE_OPTIONS is read at spawn time). */
async function withInspector<T>(start: () => Promise<T>): Promise<T> {
  const saved = process.env.NODE_OPTIONS;
  process.env.NODE_OPTIONS = `${saved ?? ""} --inspect=127.0.0.1:0`.trim();
  const started = start();
  if (saved === undefined) delete process.env.NODE_OPTIONS;
  else process.env.NODE_OPTIONS = saved;
  return started;
}

/** The handshake rate limit (if this master has one) would refuse our thousands of connections from one address. */
async function handshakeLimitFlags(): Promise<string[]> {
  const help = await run(olympusBin, ["master", "--help"]);
  const flag = ["--handshake-limit", "--handshake-rate"].find((name) => help.stdout.includes(name));
  return flag === undefined ? [] : [flag, "1000000"];
}

function top(counts: Map<string, number>, count: number): string[] {
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, count).map(([reason, times]) => `${String(times).padStart(6)}  ${reason}`);
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
    const findings: Findings = { frames: 0, connections: 0, badConnections: 0, strangers: 0, registeredThenJunk: 0, responses: 0, unknownRequestsAnswered: 0, reasons: new Map(), webSocketCloses: new Map(), problems: [], stopped: false };
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
      ...Array.from({ length: 32 }, (_, i) => guarded(findings, registeredPeer(url, findings, rng.fork(i), i % 2 === 0 ? "control" : "slave", i))),
      ...Array.from({ length: 12 }, (_, i) => guarded(findings, stranger(url, findings, rng.fork(1000 + i)))),
      guarded(findings, silentPeers(url, findings, 20)),
      guarded(findings, rawTcpJunk(port, findings, rng.fork(2000)).then((results) => (rawResults = results))),
    ]);
    const seconds = (performance.now() - began) / 1000;
    clearInterval(sampler);
    for (const peer of openPeers) peer.socket.terminate();
    await sleep(1000); // let the last closes settle
    const [warm, half, end] = await Promise.all([memory.warm, memory.half, inspector.memory(pid)]);
    if (warm === undefined || half === undefined) throw new Error("the run ended before its memory was sampled");

    t.diagnostic(`${findings.frames} frames in ${seconds.toFixed(1)} s over ${findings.connections} connections; ${findings.badConnections} bad ones closed`);
    t.diagnostic(`${findings.strangers} connections sent junk before registering; ${findings.registeredThenJunk} registered validly (or were invalidated), then sent junk`);
    t.diagnostic(`${findings.responses} responses awaited and received; ${findings.unknownRequestsAnswered} to requests of unknown type, each an error`);
    const mb = (reading: { rss: number; heap: number }) => `${reading.rss.toFixed(1)} MB (live heap ${reading.heap.toFixed(1)} MB)`;
    t.diagnostic(`master RSS after a full GC: ${mb(warm)} after warm-up (10% of the frames), ${mb(half)} halfway, ${mb(end)} at the end; ${peakRss.toFixed(1)} MB at peak`);
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
    assert.doesNotMatch(master.output, /internal error|Uncaught|\n\s+at /, "the master logged an internal error or a stack trace");
    assert.ok(end.rss - warm.rss < RSS_GROWTH_LIMIT_MB, `RSS grew from ${mb(warm)} to ${mb(end)}`);
  });

  it("still lists and pings its slave afterwards, and answers a request of unknown type with an error", async () => {
    assert.deepEqual(await slaveNames(url), ["steady"]);
    for (const target of [[], ["steady"]]) {
      const pinged = await control(url, ["ping", ...target]);
      assert.equal(pinged.code, 0, pinged.stderr);
    }
    const client = await RawClient.open(url);
    client.send({ seq: 1, type: "register_control", data: { agent: "fuzz", version: PROTOCOL_VERSION, token: TEST_TOKEN } });
    await client.next("ready");
    client.send({ seq: 2, type: "launch_rockets_request", data: {} });
    assert.deepEqual((await client.next("launch_rockets_response")).data, { seq: 2, error: "unknown request type launch_rockets_request" });
    client.socket.close();
  });

  // Found by this fuzzer: a request's handler runs in a microtask, after a fatal frame in the same
  // read may have ended the session; it must not run then (a watch would leak, an exec be orphaned).
  it(
    "does not act on a request whose session ended in the same read",
    async () => {
      const doomed = await RawClient.open(url);
      doomed.send({ seq: 1, type: "register_control", data: { agent: "fuzz", version: PROTOCOL_VERSION, token: TEST_TOKEN } });
      await doomed.next("ready");
      doomed.sendTogether(
        { seq: 2, type: "exec_request", data: { slave: "steady", command_id: "orphan-0001", program: "sleep", args: ["3"], terminal: null } },
        "not json",
      );
      await doomed.closed;
      await sleep(500);
      const observer = await RawClient.open(url);
      observer.send({ seq: 1, type: "register_control", data: { agent: "fuzz", version: PROTOCOL_VERSION, token: TEST_TOKEN } });
      await observer.next("ready");
      observer.send({ seq: 2, type: "commands_request", data: {} });
      const { commands } = (await observer.next("commands_response")).data as { commands: { command_id: string }[] };
      observer.socket.close();
      assert.deepEqual(commands, [], "a command started for a session that had already ended");
    },
  );

  // Found by this fuzzer: ws used to close such a frame with a bare 1007.
  it("ends a text frame that is not UTF-8 with a close frame and a reason", async () => {
    const client = await RawClient.open(url);
    client.socket.send(Buffer.from('{"seq":1,"type":"\xff"}', "latin1"), { binary: false });
    const code = await client.closed;
    const close = client.frames.find((frame) => frame.type === "close");
    assert.match(String(close?.data.reason), /UTF-8/, `closed with ${code} and no close frame`);
  });

  // Found by this fuzzer: zod used to report every invalid node (a million issues) and stop the event loop for seconds.
  it(
    "answers a control promptly while a slave sends a tree_event of 200,000 invalid nodes",
    async (t: TestContext) => {
      const slave = await RawClient.open(url);
      slave.send({ seq: 1, type: "register_slave", data: { agent: "fuzz", version: PROTOCOL_VERSION, name: "tree-bomb", id: 7, token: TEST_TOKEN } });
      await slave.next("ready");
      const client = await RawClient.open(url);
      client.send({ seq: 1, type: "register_control", data: { agent: "fuzz", version: PROTOCOL_VERSION, token: TEST_TOKEN } });
      await client.next("ready");

      slave.send(`{"seq":2,"type":"tree_event","data":{"nodes":[${Array(200_000).fill("{}").join(",")}],"commands":[]}}`);
      await sleep(20);
      const began = performance.now();
      client.send({ seq: 2, type: "ping_request", data: {} });
      await client.next("ping_response", 60_000);
      const milliseconds = performance.now() - began;
      t.diagnostic(`ping answered after ${milliseconds.toFixed(0)} ms; the slave was closed with: ${await slave.closeReason()}`);
      client.socket.close();
      assert.ok(milliseconds < 500, `the ping took ${milliseconds.toFixed(0)} ms`);
    },
  );
});

describe("garbage on an agent's worker sockets", () => {
  const fuzzWorker = fileURLToPath(new URL("../../test/fixtures/python/fuzz_worker.py", import.meta.url));
  const zeusJson = (env: string, plan: object) => JSON.stringify({ command: `${env} FUZZ_SEED=${SEED} python3 ${fuzzWorker}`, plan });
  const garbagePreview = /^worker sent garbage: ".*"$/;
  /** Each misbehaving phase of fuzz_worker.py and the error it must be crashed with. */
  const expectedErrors: Record<string, RegExp> = {
    garbage_nul: garbagePreview,
    garbage_unterminated: /^worker sent an unterminated message ".*"$/,
    invalid_utf8: garbagePreview,
    nul_storm: garbagePreview,
    garbage_after_ready: garbagePreview,
    result_twice: /^worker sent a second result: R:OK$/,
    second_identity: /^worker sent a second P: message out of turn$/,
    exit_code: /^worker sent an exit code out of turn$/,
    // Before P: a socket names no node; it is pinned on the only node still waiting, if there is one.
    garbage_first: /^(no result \(R:\) within 2000 ms|worker sent garbage: ".*")$/,
    fd_alone: /^worker sent a file descriptor nobody asked for$/,
    fd_with_garbage: garbagePreview,
    fd_flood: /fds truncated/,
    oversized_datagram: /datagram larger than \d+ bytes was truncated/,
    overlong_stream: /^worker sent over 1048576 bytes without a terminating \\0$/,
    stream_eof_partial: /^worker closed its socket after an unterminated message "R:O"$/,
    modern_junk_pipe: garbagePreview,
  };
  const good = { boot: "ready", good: "ready", good_too: "ready" };

  it("crashes each misbehaving node with a one-line error, keeps the rest ready, and leaks no fds over restarts", async (t: TestContext) => {
    const phases = Object.fromEntries(["good", "good_too", ...Object.keys(expectedErrors)].map((name) => [name, {}]));
    const app = makeApp({ "zeus.json": zeusJson("", { boot: phases }) });
    const agent = await startLocal(app, ["--boot-timeout", "2000"]);
    const wanted = { ...good, ...Object.fromEntries(Object.keys(expectedErrors).map((name) => [name, "crashed"])) };
    const fdCounts: number[] = [];
    for (let round = 0; round < 3; round++) {
      if (round > 0) {
        const restarted = await controlIn(app, ["restart"]);
        assert.equal(restarted.code, 0, restarted.stderr);
      }
      const status = await waitForStates(app, wanted, 15_000);
      for (const [name, pattern] of Object.entries(expectedErrors)) {
        const error = status.get(name)?.error ?? "";
        assert.match(error, pattern, name);
        assert.doesNotMatch(error, /[\r\n]/, `${name}: the error is one line`);
      }
      await sleep(1500); // crashed workers are killed after a 1 s grace, and their fds closed
      fdCounts.push(readdirSync(`/proc/${agent.child.pid}/fd`).length);
    }
    t.diagnostic(`agent fds after each round: ${fdCounts.join(", ")}`);
    assert.ok((fdCounts[2] as number) - (fdCounts[0] as number) <= 2, `agent fds grew: ${fdCounts.join(", ")}`);
    assert.equal(agent.child.exitCode, null, "the agent is still running");
    const slaves = await controlIn(app, ["slaves"]);
    assert.equal(slaves.code, 0, slaves.stderr);
    assert.doesNotMatch(agent.output, /internal error|Uncaught|TypeError|RangeError/);
  });

  // Found by this fuzzer: the agent's master socket used to close on a truncated datagram, so no worker could register again.
  it(
    "keeps accepting workers after one sends an oversized datagram on the master socket",
    async () => {
      const app = makeApp({ "zeus.json": zeusJson("ABUSE_MASTER_FD=1", { boot: { good: {} } }) });
      await startLocal(app, ["--boot-timeout", "2000"]);
      await waitForStates(app, { boot: "ready", good: "ready" }, 5000);
    },
  );
});
