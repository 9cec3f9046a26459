import type { BinaryFrame } from "../../shared/protocol/binary-frame.js";
import type { EventDefinition } from "../../shared/protocol/definitions.js";
import type { Link } from "../../shared/protocol/link.js";
import {
  type CommandSummary,
  commandAckEvent,
  commandEvent,
  commandExitEvent,
  commandOutputEvent,
  commandSignalEvent,
  commandSlaveEvent,
} from "../../shared/protocol/messages.js";
import type { Logger } from "../../shared/runtime/log.js";
import type { SlaveSession } from "../sessions/registry.js";
import type { Watchers } from "../sessions/watchers.js";
import { callLine, describeCommand } from "./call-log.js";

type CommandEventData = { command_id: string } & Record<string, unknown>;

/** Who hears a command's events and output bytes: a control's Link, or the master's own test suite. */
export type CommandOwner = Pick<Link, "event" | "forwardBytes">;

interface CommandRoute {
  command: CommandSummary;
  control: CommandOwner;
  slave: SlaveSession;
  /** The control went away: the master acknowledges the output itself until the command ends. */
  controlGone: boolean;
  /** Who asked and what (for the log line at its end; none for the master's own suites), and since when. */
  logAs: { caller: string; call: string } | null;
  startedAt: number;
}

/**
 * Which control and which slave each running command belongs to. The control
 * picks the command id, so the route exists before the slave's first event.
 */
export class CommandRoutes {
  private readonly routes = new Map<string, CommandRoute>();

  constructor(
    private readonly watchers: Watchers,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.routes.size;
  }

  list(): CommandSummary[] {
    return [...this.routes.values()].map((route) => route.command);
  }

  /** `logAs` names the control that asked and its request's type, for the log line at the command's end. */
  open(
    id: string,
    control: CommandOwner,
    slave: SlaveSession,
    argv: string[],
    logAs?: { kind: string; caller: string },
  ): void {
    if (this.routes.has(id)) throw new Error(`command id ${id} is in use`);
    const command = { command_id: id, slave: slave.info.name, argv, started_at: new Date().toISOString() };
    const logged = logAs === undefined ? null : { caller: logAs.caller, call: describeCommand(logAs.kind, command) };
    this.routes.set(id, { command, control, slave, controlGone: false, logAs: logged, startedAt: performance.now() });
    this.watchers.broadcast(commandEvent, { command, running: true });
  }

  /** The command never started. */
  discard(id: string): void {
    this.close(id);
  }

  /** An event from the control that owns the command goes to its slave. */
  fromControl(control: Link, definition: EventDefinition, data: CommandEventData): void {
    const route = this.routes.get(data.command_id);
    if (route?.control === control) route.slave.link.event(definition, data as never);
  }

  /**
   * A control's input bytes go to the command's slave, routed by the header
   * alone. Bytes for a command that is not this control's (ended, unknown,
   * another's) are answered with its exit and an error; the session goes on.
   */
  bytesFromControl(control: Link, frame: BinaryFrame, raw: Buffer): void {
    const route = this.routes.get(frame.commandId);
    if (route?.control === control) return route.slave.link.forwardBytes(frame, raw);
    control.event(commandExitEvent, {
      command_id: frame.commandId,
      code: null,
      signal: null,
      error: `no running command ${frame.commandId} of this control`,
    });
  }

  /** A slave's output bytes go to the command's control, as they are if it takes binary frames, else as base64. */
  bytesFromSlave(slave: SlaveSession, frame: BinaryFrame, raw: Buffer): void {
    const route = this.routes.get(frame.commandId);
    if (route?.slave !== slave) return;
    if (!route.controlGone) return route.control.forwardBytes(frame, raw);
    const bytes = frame.payload.length;
    if (bytes > 0) slave.link.event(commandAckEvent, { command_id: frame.commandId, bytes });
  }

  /** An event from the slave that runs the command goes to its control. */
  fromSlave(slave: SlaveSession, definition: EventDefinition, data: CommandEventData): void {
    const route = this.routes.get(data.command_id);
    if (route?.slave !== slave) return;
    if (!route.controlGone) route.control.event(definition, data as never);
    else if (definition.type === commandOutputEvent.type) {
      const bytes = Buffer.byteLength(data.data as string, "base64");
      if (bytes > 0) slave.link.event(commandAckEvent, { command_id: data.command_id, bytes });
    }
    if (definition.type === commandExitEvent.type) {
      const { code, signal, error } = data as unknown as { code: number | null; signal: string | null; error?: string };
      this.logEnd(route, error ?? (code === null ? `signal ${signal}` : `exit ${code}`));
      this.close(data.command_id);
    }
  }

  /** The control vanished: its commands get a hangup, as a closed terminal would give them. */
  controlClosed(control: Link): void {
    for (const route of this.routes.values()) {
      if (route.control !== control || route.controlGone) continue;
      route.controlGone = true;
      route.slave.link.event(commandSignalEvent, { command_id: route.command.command_id, signal: "SIGHUP" });
    }
  }

  /** The slave's socket dropped (`timeoutMs`: how long the master waits for its resume), or it resumed: its controls hear so. */
  slaveConnection(slave: SlaveSession, connected: boolean, timeoutMs?: number): void {
    const timeout = timeoutMs === undefined ? {} : { timeout: timeoutMs / 1000 };
    for (const [id, route] of this.routes) {
      if (route.slave === slave && !route.controlGone)
        route.control.event(commandSlaveEvent, { command_id: id, connected, ...timeout });
    }
  }

  /** The slave's session ended: its controls hear so, and why, at once instead of waiting forever. */
  slaveClosed(slave: SlaveSession, reason: string): void {
    for (const [id, route] of this.routes) {
      if (route.slave !== slave) continue;
      if (!route.controlGone) {
        route.control.event(commandExitEvent, {
          command_id: id,
          code: null,
          signal: null,
          error: `slave ${slave.info.name} disconnected: ${reason}`,
        });
      }
      this.logEnd(route, `lost: slave ${slave.info.name} disconnected: ${reason}`);
      this.close(id);
    }
  }

  private logEnd(route: CommandRoute, outcome: string): void {
    if (route.logAs === null) return;
    const { caller, call } = route.logAs;
    this.log(callLine(caller, call, outcome, (performance.now() - route.startedAt) / 1000));
  }

  private close(id: string): void {
    const route = this.routes.get(id);
    if (route === undefined) return;
    this.routes.delete(id);
    this.watchers.broadcast(commandEvent, { command: route.command, running: false });
  }
}
