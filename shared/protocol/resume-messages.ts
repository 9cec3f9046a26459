/** Part of the catalogue (messages.ts): picking a command's stream up again after the master it went through died. */
import { event, memo, request } from "./definitions.js";
import { commandId, slaveSelector } from "./fields.js";
import * as z from "./zod.js";

const byteCount = memo(() => z.number().check(z.int(), z.nonnegative()));
const attempt = memo(() => z.number().check(z.int(), z.positive()));

/**
 * The control had received `output_received` bytes of the command's output
 * (stdout and stderr together, in the order sent) and written
 * `output_written` of them: the slave counts the written ones acknowledged
 * and moves the command's route to the one this request came by, where it
 * sends command_resumed_event, the output past `output_received`, and the
 * exit if the command has ended. `attempt` numbers the control's tries, so
 * it can tell the answer to its last from one to an earlier; `argv` names the
 * command in the master's listing and history.
 */
export const resumeCommand = request("resume_command", {
  from: ["control", "master"],
  access: "operator",
  forwardToSlave: true,
  request: () =>
    z.object({
      slave: z.optional(slaveSelector()),
      command_id: commandId(),
      attempt: attempt(),
      argv: z.array(z.string().check(z.maxLength(4096))).check(z.maxLength(10_000)),
      output_received: byteCount(),
      output_written: byteCount(),
    }),
  response: () => z.object({}),
});

/**
 * The output that follows starts at the resume's `output_received`; the
 * slave has `input_received` bytes of input (the control sends the rest),
 * has consumed `input_consumed` (credit for them is not granted again), and
 * has had the end of input or not.
 */
export const commandResumedEvent = event("command_resumed", {
  from: ["slave", "master"],
  data: () =>
    z.object({
      command_id: commandId(),
      attempt: attempt(),
      input_received: byteCount(),
      input_consumed: byteCount(),
      input_ended: z.boolean(),
    }),
});
