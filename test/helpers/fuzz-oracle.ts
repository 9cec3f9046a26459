/** The protocol's rules (docs/protocol.md) as a fuzzer needs them: what the master must do with a frame. */
import { decodeBinaryFrame } from "../../shared/protocol/binary-frame.js";
import { decodeFrame } from "../../shared/protocol/codec.js";
import type { Definition } from "../../shared/protocol/definitions.js";
import { MAX_FRAME_BYTES } from "../../shared/protocol/limits.js";
import { definitionsByType } from "../../shared/protocol/messages.js";
import { TEST_TOKEN } from "./cluster.js";
import { type Candidate, plainAfterRegistration } from "./fuzz-frames.js";

export type PeerKind = "slave" | "control" | "stranger";

/** A master with sessions (heartbeats, resume) drops numbered frames it has seen already, unread. */
const SESSIONS = definitionsByType.has("heartbeat");

/** What the master must do with one frame. */
export type Outcome =
  | { kind: "fatal" } // close {reason}, or the WebSocket layer's close for frames past its limit
  | { kind: "answered"; seq: number; responseType: string; unknownType: boolean }
  | { kind: "ignored" }
  | { kind: "goodbye" } // our own close: the master just hangs up
  | { kind: "ready" } // a stranger's valid registration
  | { kind: "invalidated" }; // a stranger's resume of a session that does not exist

/** The outcome, and the highest seq the master has from this peer afterwards. */
export interface Prediction {
  outcome: Outcome;
  lastSeq: number;
}

/**
 * The protocol's rules (docs/protocol.md) for a frame from a registered peer
 * or a stranger, given the highest seq the master has from it so far; null
 * when the outcome depends on timing or on rules this test does not know.
 */
export function predict(frame: Candidate, role: PeerKind, lastSeq: number, binaryFrames = false): Prediction | null {
  const fatal: Prediction = { outcome: { kind: "fatal" }, lastSeq };
  if (Buffer.byteLength(frame.payload) > MAX_FRAME_BYTES) return fatal;
  if (frame.binary) return binaryFrames && role !== "stranger" ? predictBinary(frame.payload, role, lastSeq) : fatal;
  if (typeof frame.payload !== "string") return fatal;
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

/** Command bytes, to a peer that took binary frames: stdin from a control, output from a slave; a bad header is fatal. */
function predictBinary(payload: string | Buffer, role: "slave" | "control", lastSeq: number): Prediction {
  const fatal: Prediction = { outcome: { kind: "fatal" }, lastSeq };
  let seq: number;
  let stream: string;
  try {
    ({ seq, stream } = decodeBinaryFrame(Buffer.from(payload)));
  } catch {
    return fatal;
  }
  if (SESSIONS && seq <= lastSeq) return { outcome: { kind: "ignored" }, lastSeq };
  const allowed = stream === "stdin" ? role === "control" : role === "slave";
  return allowed ? { outcome: { kind: "ignored" }, lastSeq: seq } : fatal;
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

function predictRegistered(
  seq: number | null,
  type: string,
  data: Record<string, unknown>,
  definition: Definition | undefined,
  role: "slave" | "control",
): Outcome | null {
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
  if (!definition.from.includes(role))
    return definition.kind === "request" ? answer(false, definition.responseType) : { kind: "fatal" };
  if (definition.kind === "request") {
    if (seq === null || !definition.request.safeParse(data).success) return { kind: "fatal" };
    return answer(false, definition.responseType);
  }
  if (!definition.data.safeParse(data).success) return { kind: "fatal" };
  if (definition.kind === "event") return { kind: "ignored" };
  const kind = plainAfterRegistration[type];
  return kind === undefined ? null : ({ kind } as Outcome);
}
