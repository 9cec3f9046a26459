/** Random frames for fuzzing the master: values, samples of every catalogue type, and mutations of them. */

import type { Definition } from "../../shared/protocol/definitions.js";
import { MAX_FRAME_BYTES, MAX_WEBSOCKET_PAYLOAD_BYTES } from "../../shared/protocol/limits.js";
import { catalogue, definitionsByType, nodeStates } from "../../shared/protocol/messages.js";
import { PROTOCOL_VERSION } from "../../shared/protocol/version.js";
import { TEST_TOKEN } from "./cluster.js";
import { commandBytesFrame, damagedBytesFrame } from "./fuzz-binary.js";
import type { Outcome, PeerKind } from "./fuzz-oracle.js";

/** Every frame is drawn from this; FUZZ_SEED=<seed> replays a run's frames. */
export const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** mulberry32: small, fast and good enough to pick frames. */
export class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
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
  /** An independent stream for one connection, so each connection's frames depend only on FUZZ_SEED. */
  fork(label: number): Random {
    return new Random(Math.imul(this.state ^ (label * 0x9e3779b9), 0x85ebca6b) ^ label);
  }
}

// ------------------------------------------------------ values and samples

const weirdNumbers = [
  0,
  -1,
  -0,
  1.5,
  2 ** 31,
  2 ** 32 + 1,
  2 ** 53,
  2 ** 53 + 2,
  Number.MAX_SAFE_INTEGER,
  1e308,
  -1e308,
  5e-324,
];
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
      return Object.fromEntries(
        Array.from({ length: rng.int(4) }, (_, i) => [
          rng.pick(["a", "seq", "data", "__proto__", `k${i}`]),
          randomValue(rng, depth - 1),
        ]),
      );
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

const commandId = (rng: Random) =>
  `fuzz-${rng
    .int(2 ** 30)
    .toString(36)
    .padStart(8, "0")}`;
const maybeGhost = (rng: Random) => (rng.chance(0.5) ? rng.pick(ghostSlaves) : undefined);
const sampleNode = (rng: Random) => ({
  name: rng.pick(["boot", "web", "ünï", ""]),
  parent: rng.pick([null, "boot"]),
  state: rng.pick(nodeStates),
  pid: rng.pick([null, 4242]),
  error: rng.pick([null, "Traceback:\n  boom"]),
});
const slaveInfo = {
  id: 1,
  name: "someone",
  agent: "fuzz",
  version: PROTOCOL_VERSION,
  address: "127.0.0.1",
  connected_at: new Date(0).toISOString(),
};
const runningCommand = (rng: Random) => ({
  command_id: commandId(rng),
  slave: "someone",
  argv: ["ls"],
  started_at: new Date(0).toISOString(),
});

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
  tree_event: (rng) => ({
    nodes: [sampleNode(rng), sampleNode(rng)],
    commands: [{ name: "test", aliases: ["t"], parent: "boot" }],
  }),
  node_state_event: (rng) => ({ node: sampleNode(rng) }),
  slave_event: () => ({ slave: slaveInfo, connected: true }),
  status_request: (rng) => ({ slave: maybeGhost(rng) }),
  watch_request: () => ({}),
  restart_request: (rng) => ({ slave: maybeGhost(rng), node: rng.pick([undefined, "boot"]) }),
  run_request: (rng) => ({
    slave: maybeGhost(rng),
    command_id: commandId(rng),
    command: "test",
    args: ["-v"],
    terminal: rng.pick([null, { cols: 80, rows: 24 }]),
  }),
  exec_request: (rng) => ({
    slave: maybeGhost(rng),
    command_id: commandId(rng),
    program: "ls",
    args: [],
    cwd: "/",
    terminal: { cols: 80, rows: 24, term: "xterm" },
  }),
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
const responseTypes = catalogue.flatMap((definition) =>
  definition.kind === "request" ? [definition.responseType] : [],
);
const madeUpTypes = [
  "launch_rockets_request",
  "_request",
  "x_event",
  "_event",
  "frobnicate",
  "constructor_request",
  "__proto__",
  "ping_reply",
  "close_request",
];

/** One frame to send, as the master will see it. */
export interface Candidate {
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
    const inner = Object.entries(holder).filter(
      ([, value]) => typeof value === "object" && value !== null && !Array.isArray(value),
    );
    if (inner.length > 0 && rng.chance(0.3)) holder = rng.pick(inner)[1] as Record<string, unknown>;
  }
  const keys = Object.keys(holder);
  const key =
    keys.length > 0 && rng.chance(0.85) ? rng.pick(keys) : rng.pick(["seq", "type", "data", "extra", "__proto__"]);
  return { holder, key };
}

const mutations: [string, (rng: Random, frame: FrameObject) => void][] = [
  [
    "drop",
    (rng, frame) => {
      const { holder, key } = randomSlot(rng, frame);
      delete holder[key];
    },
  ],
  ["retype", (rng, frame) => set(rng, frame, randomValue(rng))],
  ["oversize", (rng, frame) => set(rng, frame, bigValue(rng))],
  // Deeper than a few thousand would overflow JSON.stringify here; the "deep value" text mutation goes deeper.
  [
    "nest",
    (rng, frame) =>
      set(rng, frame, nested(rng.pick([1, "x", {}, []]), 1 + rng.int(rng.chance(0.1) ? 2000 : 50), rng.chance(0.5))),
  ],
  ["unicode", (rng, frame) => set(rng, frame, rng.pick(weirdStrings))],
  ["number", (rng, frame) => set(rng, frame, rng.pick(weirdNumbers))],
  [
    "extra field",
    (rng, frame) => {
      const holder =
        typeof frame.data === "object" && frame.data !== null ? (frame.data as Record<string, unknown>) : frame;
      holder[`extra_${rng.int(9)}`] = randomValue(rng);
    },
  ],
  ["seq", (rng, frame) => set(rng, frame, rng.pick([null, undefined, -1, 1.5, "7", 2 ** 53, 1e308, [], {}]), "seq")],
  [
    "type",
    (rng, frame) =>
      set(
        rng,
        frame,
        rng.pick([...catalogueTypes, ...responseTypes, ...madeUpTypes, ...weirdStrings, 42, null]),
        "type",
      ),
  ],
  [
    "data",
    (rng, frame) => set(rng, frame, rng.pick([null, [], "data", 0, undefined, { nested: { deeper: {} } }]), "data"),
  ],
];

/** Puts `value` in the frame's own `key`, or else in a random slot of it. */
function set(rng: Random, frame: FrameObject, value: unknown, key?: "seq" | "type" | "data"): void {
  if (key !== undefined) {
    frame[key] = value;
    return;
  }
  const slot = randomSlot(rng, frame);
  slot.holder[slot.key] = value;
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
  [
    "char flipped",
    (rng, text) => {
      const at = rng.int(text.length);
      return text.slice(0, at) + String.fromCharCode(rng.int(128)) + text.slice(at + 1);
    },
  ],
  ["duplicate key", (rng, text) => text.replace("{", `{"type":${JSON.stringify(rng.pick(catalogueTypes))},`)],
  [
    "odd number literal",
    (rng, text) => text.replace(/"seq":\d+/, `"seq":${rng.pick(["1e999", "-0", "1.0", "01", "0x10", "1e2"])}`),
  ],
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
      return Buffer.from(
        Array.from({ length: rng.int(100) }, () => String.fromCharCode(rng.int(0x10000))).join(""),
      ).toString();
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
  const data = Object.fromEntries(
    Array.from({ length: rng.int(4) }, (_, i) => [
      rng.pick(["a", "seq", "slave", "__proto__", `k${i}`]),
      rng.chance(0.1) ? bigValue(rng) : randomValue(rng),
    ]),
  );
  let text = JSON.stringify({ seq: pickSeq(rng, seq), type, data });
  if (rng.chance(0.05)) text = deepValue(rng, text);
  return { payload: text, binary: false, label: `${type} (unknown)` };
}

/** Handshake and session messages a registered peer may send, and what they do then; others are not predicted. */
export const plainAfterRegistration: Record<string, Outcome["kind"]> = {
  close: "goodbye",
  heartbeat: "ignored",
  register_slave: "fatal",
  register_control: "fatal",
  resume: "fatal",
};

/** Types a registered peer may send (events, requests, heartbeats), and requests it may not (answered with an error). */
function typesFor(role: "slave" | "control"): { sendable: string[]; refused: string[] } {
  const survives = (definition: Definition) =>
    definition.kind !== "plain" || plainAfterRegistration[definition.type] === "ignored";
  const own = catalogue.filter((definition) => survives(definition) && definition.from.includes(role));
  const refused = catalogue.filter((definition) => definition.kind === "request" && !definition.from.includes(role));
  return { sendable: own.map((definition) => definition.type), refused: refused.map((definition) => definition.type) };
}
const typesByRole = { slave: typesFor("slave"), control: typesFor("control") };

/** What a registered peer's batches are made of: mostly frames the master must survive (the oracle still decides). */
export function batchFrame(rng: Random, role: "slave" | "control", seq: number): Candidate {
  const { sendable, refused } = typesByRole[role];
  const roll = rng.next();
  if (roll < 0.3) return catalogueFrame(rng, rng.pick(sendable), 0, 0, seq);
  if (roll < 0.45 && refused.length > 0) return catalogueFrame(rng, rng.pick(refused), rng.int(3), 0, seq);
  if (roll < 0.7) return unknownTypeFrame(rng, seq);
  if (roll < 0.8) return catalogueFrame(rng, rng.pick(responseTypes), rng.int(3), 0.1, seq);
  if (roll < 0.9) return commandBytesFrame(rng, seq);
  return catalogueFrame(rng, rng.pick(sendable), 1, 0.05, seq);
}

/** Any frame at all: what strangers send first, and what ends a registered connection. */
export function anyFrame(rng: Random, role: PeerKind, seq: number): Candidate {
  const roll = rng.next();
  const strangerTypes = ["register_slave", "register_control", ...(definitionsByType.has("resume") ? ["resume"] : [])];
  const type = () =>
    role === "stranger" && rng.chance(0.5)
      ? rng.pick(strangerTypes)
      : rng.pick([...catalogueTypes, ...catalogueTypes, ...responseTypes, ...madeUpTypes]);
  if (roll < 0.2) return catalogueFrame(rng, type(), 0, 0, seq);
  if (roll < 0.75) return catalogueFrame(rng, type(), 1 + rng.int(3), 0.1, seq);
  if (roll < 0.85) return { payload: randomText(rng), binary: false, label: "random text" };
  if (roll < 0.89) return damagedBytesFrame(rng, seq);
  if (roll < 0.92)
    return {
      payload: rng.chance(0.5)
        ? rng.bytes(rng.int(300))
        : Buffer.from(JSON.stringify({ seq: 1, type: "ping_request", data: {} })),
      binary: true,
      label: "binary",
    };
  if (roll < 0.985)
    return {
      payload: Buffer.concat([rng.bytes(rng.int(20)), Buffer.from([0xff, 0xc3, 0x28]), rng.bytes(rng.int(20))]),
      binary: false,
      label: "invalid UTF-8",
    };
  if (roll < 0.995)
    return {
      payload: JSON.stringify({
        seq: 1,
        type: "ping_request",
        data: { slave: "x".repeat(MAX_FRAME_BYTES + rng.int(2 * MAX_FRAME_BYTES)) },
      }),
      binary: false,
      label: "over the frame limit",
    };
  return {
    payload: "y".repeat(MAX_WEBSOCKET_PAYLOAD_BYTES + 1 + rng.int(1000)),
    binary: false,
    label: "over the WebSocket limit",
  };
}
