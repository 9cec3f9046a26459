/**
 * The catalogue: every message type on the wire, who may send it, and its data.
 * docs/protocol.md is the table a person reads; a test keeps the two in step.
 */
import { z } from "zod";
import { plain, request, type Definition } from "./definitions.js";

const version = z.string().min(1).max(64);
const agent = z.string().min(1).max(200);
const token = z.string().max(4096);
/** A slave is named by its name or by its id written as a string. */
const slaveSelector = z.string().min(1).max(200);

// Handshake and session.

export const hello = plain("hello", { from: ["master"], data: z.object({ version }) });

export const registerSlave = plain("register_slave", {
  from: ["slave"],
  data: z.object({
    agent,
    version,
    name: z.string().min(1).max(200),
    id: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    token,
  }),
});

export const registerControl = plain("register_control", {
  from: ["control"],
  data: z.object({ agent, version, token }),
});

export const ready = plain("ready", { from: ["master"], data: z.object({}) });

export const close = plain("close", {
  from: ["master", "slave", "control"],
  data: z.object({ reason: z.string().max(4096) }),
});

// Slaves.

export const slaveInfo = z.object({
  id: z.number().int(),
  name: z.string(),
  agent: z.string(),
  version: z.string(),
  address: z.string(),
  connected_at: z.string(),
});

export const listSlaves = request("list_slaves", {
  from: ["control"],
  request: z.object({}),
  response: z.object({ slaves: z.array(slaveInfo) }),
});

/** Answered by the master, or by the named slave. */
export const ping = request("ping", {
  from: ["control", "master"],
  forwardToSlave: true,
  request: z.object({ slave: slaveSelector.optional() }),
  response: z.object({}),
});

export const catalogue: readonly Definition[] = [hello, registerSlave, registerControl, ready, close, listSlaves, ping];

export const definitionsByType: ReadonlyMap<string, Definition> = new Map(
  catalogue.map((definition) => [definition.type, definition]),
);
