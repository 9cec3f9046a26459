import type { Definition } from "./definitions.js";
import { ProtocolError } from "./errors.js";
import type * as z from "./zod.js";

/** One frame on the wire: `{seq, type, data}`. */
export interface Frame {
  seq: number | null;
  type: string;
  data: Record<string, unknown>;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Parses a text frame; every way it can be malformed becomes a one-line ProtocolError. */
export function decodeFrame(text: string): Frame {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ProtocolError("frame is not valid JSON");
  }
  if (!isPlainObject(parsed)) throw new ProtocolError("frame is not a JSON object");
  const { seq, type, data } = parsed;
  if (seq !== undefined && seq !== null && !(Number.isSafeInteger(seq) && (seq as number) >= 0)) {
    throw new ProtocolError("frame field seq is not a non-negative integer");
  }
  if (typeof type !== "string" || type.length === 0 || type.length > 100) {
    throw new ProtocolError("frame field type is not a string of 1 to 100 characters");
  }
  if (!isPlainObject(data)) throw new ProtocolError(`${type}: frame field data is not an object`);
  return { seq: (seq as number | undefined) ?? null, type, data };
}

export function encodeFrame(seq: number | null, type: string, data: object): string {
  return JSON.stringify({ seq, type, data });
}

/** The first schema issue as one line: `<type> data.<path>: <message>`. */
export function describeIssue(type: string, error: z.core.$ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return `${type}: invalid data`;
  const path = ["data", ...issue.path.map(String)].join(".");
  return `${type} ${path}: ${issue.message}`;
}

/** A peer's frame checked against its definition's schema; a failure is the peer's ProtocolError. */
export function validateIncoming(definition: Definition, frame: Frame): unknown {
  if (definition.kind === "request" && frame.seq === null) throw new ProtocolError(`${frame.type} has no seq`);
  const schema = definition.kind === "request" ? definition.request : definition.data;
  const result = schema.safeParse(frame.data);
  if (!result.success) throw new ProtocolError(describeIssue(frame.type, result.error));
  return result.data;
}

/** Outgoing data that fails its schema is a bug on this side, not the peer's. */
export function validateOutgoing(type: string, schema: z.ZodMiniType, data: unknown): object {
  const result = schema.safeParse(data);
  if (!result.success) throw new Error(`refusing to send invalid ${describeIssue(type, result.error)}`);
  return result.data as object;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
