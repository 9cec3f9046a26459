/** The fields several groups of messages share (the catalogue is in messages.ts). */
import { memo } from "./definitions.js";
import * as z from "./zod.js";

export const version = memo(() => z.string().check(z.minLength(1), z.maxLength(64)));
export const agent = memo(() => z.string().check(z.minLength(1), z.maxLength(200)));
export const token = memo(() => z.string().check(z.maxLength(4096)));
/** A slave is named by its name or by its id written as a string. */
export const slaveSelector = memo(() => z.string().check(z.minLength(1), z.maxLength(200)));
export const pid = memo(() => z.number().check(z.int(), z.positive()));

/** Chosen by the control, so the master can route the command's events before the slave answers. */
export const commandId = memo(() =>
  z.string().check(z.regex(/^[A-Za-z0-9_-]{8,64}$/, "expected 8 to 64 letters, digits, '_' or '-'")),
);

export const base64 = memo(() => z.string().check(z.maxLength(1024 * 1024)));

/** A phase's states, as trees and the timeline report them. */
export const nodeStates = ["unbooted", "booting", "ready", "crashed", "waiting"] as const;
