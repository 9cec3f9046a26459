import type { z } from "zod";
import { decodeFrame, describeIssue, type Frame } from "../shared/codec.js";
import type { PlainDefinition } from "../shared/definitions.js";
import { ProtocolError } from "../shared/errors.js";
import { registerControl, registerSlave } from "../shared/messages.js";
import { PROTOCOL_VERSION, versionMismatch } from "../shared/version.js";
import type { TokenAuth } from "./auth.js";

export type Registration =
  | { role: "slave"; data: z.infer<typeof registerSlave.data> }
  | { role: "control"; data: z.infer<typeof registerControl.data> };

/**
 * Checks the first frame a client sends after `hello`: a valid
 * `register_slave` or `register_control` of our major version with a good
 * token. Anything else is a ProtocolError whose message is the close reason.
 */
export function parseRegistration(text: string, auth: TokenAuth): Registration {
  const frame = decodeFrame(text);
  if (frame.type === registerSlave.type) return { role: "slave", data: admit(registerSlave, frame, auth) };
  if (frame.type === registerControl.type) return { role: "control", data: admit(registerControl, frame, auth) };
  throw new ProtocolError(`expected register_slave or register_control, got ${frame.type}`);
}

function admit<D extends PlainDefinition>(definition: D, frame: Frame, auth: TokenAuth): z.infer<D["data"]> {
  const parsed = definition.data.safeParse(frame.data);
  if (!parsed.success) throw new ProtocolError(describeIssue(frame.type, parsed.error));
  const { version, token } = parsed.data as { version: string; token: string };
  const mismatch = versionMismatch(PROTOCOL_VERSION, version);
  if (mismatch !== null) throw new ProtocolError(mismatch);
  if (!auth.accepts(token)) throw new ProtocolError("bad token");
  return parsed.data as z.infer<D["data"]>;
}
