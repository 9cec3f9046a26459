import { decodeFrame, describeIssue, type Frame } from "../../shared/protocol/codec.js";
import type { PlainDefinition } from "../../shared/protocol/definitions.js";
import { ProtocolError } from "../../shared/protocol/errors.js";
import { registerControl, registerSlave } from "../../shared/protocol/messages.js";
import { PROTOCOL_VERSION, versionMismatch } from "../../shared/protocol/version.js";
import type * as z from "../../shared/protocol/zod.js";
import type { Authenticator } from "../auth/auth.js";
import { type Credential, TokenRefusedError } from "../auth/tokens.js";

export type SlaveRegistration = z.infer<typeof registerSlave.data>;

export type Registration = (
  | { role: "slave"; data: SlaveRegistration }
  | { role: "control"; data: z.infer<typeof registerControl.data> }
) & { credential: Credential };

/**
 * Checks the first frame a client sends after `hello`: a valid
 * `register_slave` or `register_control` of our major version with a good
 * token for that role. Anything else is a ProtocolError whose message is the
 * close reason.
 */
export async function parseRegistration(text: string, auth: Authenticator): Promise<Registration> {
  const frame = decodeFrame(text);
  if (frame.type === registerSlave.type)
    return { role: "slave", ...(await admit(registerSlave, frame, auth, "slave")) };
  if (frame.type === registerControl.type)
    return { role: "control", ...(await admit(registerControl, frame, auth, "control")) };
  throw new ProtocolError(`expected register_slave or register_control, got ${frame.type}`);
}

async function admit<D extends PlainDefinition>(
  definition: D,
  frame: Frame,
  auth: Authenticator,
  role: "slave" | "control",
): Promise<{ data: z.infer<D["data"]>; credential: Credential }> {
  const parsed = definition.data.safeParse(frame.data);
  if (!parsed.success) throw new ProtocolError(describeIssue(frame.type, parsed.error));
  const { version, token } = parsed.data as { version: string; token: string };
  const mismatch = versionMismatch(PROTOCOL_VERSION, version);
  if (mismatch !== null) throw new ProtocolError(mismatch);
  try {
    return { data: parsed.data as z.infer<D["data"]>, credential: await auth.admit(token, role) };
  } catch (error) {
    if (error instanceof TokenRefusedError) throw new ProtocolError(error.message);
    throw error;
  }
}
