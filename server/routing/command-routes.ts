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
import { type CommandHistory, OutputTail, shellLine } from "./command-history.js";

type CommandEventData = { command_id: string } & Record<string, unknown>;

/** Who hears a command's events and output bytes: a control's Link, or the master's own test suite. */
export type CommandOwner = Pick<Link, "event" | "forwardBytes">;

/**
 * Who started a command: the token name the history keeps, and for a
 * control's request its caller and request type, for the log line at its end
 * (the master's own suites log none).
 */
export interface CommandOrigin {
  who: string;
  logAs?: { kind: string; caller: string };
}

interface CommandRoute {
  command: CommandSummary;
  control: CommandOwner;
  slave: SlaveSession;
  /** The control went away: the master acknowledges the output itself until the command ends. */
  controlGone: boolean;
  /** The token name of the control that started it, for the history. */
  who: string;
  tail: OutputTail;
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
    private readonly history: CommandHistory,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.routes.size;
  }

  list(): CommandSummary[] {
    return [...this.routes.values()].map((route) => route.command);
  }

  /**
   * Routes a command from now on; `resuming`, it takes the place of the
   * command's route if it has one (a control picking its stream up again
   * after a master died: the old route leads to a dead end). Returns the
   * route, to discard it if the slave refuses.
   */
  open(
    id: string,
    control: CommandOwner,
    slave: SlaveSession,
    argv: string[],
    origin: CommandOrigin,
    resuming = false,
  ): object {
    if (this.routes.has(id) && !resuming) throw new Error(`command id ${id} is in use`);
    const command = { command_id: id, slave: slave.info.name, argv, started_at: new Date().toISOString() };
    const { who, logAs } = origin;
    const logged = logAs === undefined ? null : { caller: logAs.caller, call: describeCommand(logAs.kind, command) };
    const route = {
      command,
      control,
      slave,
      controlGone: false,
      who,
      tail: new OutputTail(),
      logAs: logged,
      startedAt: performance.now(),
    };
    this.routes.set(id, route);
    this.watchers.broadcast(commandEvent, { command, running: true });
    return route;
  }

  /** The command never started, or was not resumed: it has no place in the history. Only `route` goes, if given. */
  discard(id: string, only?: object): void {
    const route = this.routes.get(id);
    if (route === undefined || (only !== undefined && route !== only)) return;
    this.routes.delete(id);
    this.watchers.broadcast(commandEvent, { command: route.command, running: false });
  }

  /**
   * An event from the control that owns the command goes to its slave. A
   * signal may come from any control whose role may send one, so an operator
   * can stop a command another control started.
   */
  fromControl(control: Link, definition: EventDefinition, data: CommandEventData): void {
    const route = this.routes.get(data.command_id);
    if (route === undefined) return;
    if (route.control === control || definition.type === commandSignalEvent.type)
      route.slave.link.event(definition, data as never);
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
    route.tail.add(frame.payload);
    if (!route.controlGone) return route.control.forwardBytes(frame, raw);
    const bytes = frame.payload.length;
    if (bytes > 0) slave.link.event(commandAckEvent, { command_id: frame.commandId, bytes });
  }

  /** An event from the slave that runs the command goes to its control. */
  fromSlave(slave: SlaveSession, definition: EventDefinition, data: CommandEventData): void {
    const route = this.routes.get(data.command_id);
    if (route?.slave !== slave) return;
    if (definition.type === commandOutputEvent.type) route.tail.add(data.data as string);
    if (!route.controlGone) route.control.event(definition, data as never);
    else if (definition.type === commandOutputEvent.type) {
      const bytes = Buffer.byteLength(data.data as string, "base64");
      if (bytes > 0) slave.link.event(commandAckEvent, { command_id: data.command_id, bytes });
    }
    if (definition.type === commandExitEvent.type) {
      const { code, signal, error } = data as unknown as { code: number | null; signal: string | null; error?: string };
      this.logEnd(route, error ?? (code === null ? `signal ${signal}` : `exit ${code}`));
      this.close(data.command_id, code, error);
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

  /**
   * The slave's session ended: its controls hear so, and why, at once instead
   * of waiting forever. `resumable` when the session was a route through
   * another master that died, not the slave's own: its commands run on, and
   * their controls may resume them through the slave's new master.
   */
  slaveClosed(slave: SlaveSession, reason: string, resumable = false): void {
    const error = `slave ${slave.info.name} disconnected: ${reason}`;
    for (const [id, route] of this.routes) {
      if (route.slave !== slave) continue;
      if (!route.controlGone)
        route.control.event(commandExitEvent, {
          command_id: id,
          code: null,
          signal: null,
          error,
          ...(resumable ? { resumable } : {}),
        });
      if (resumable) {
        this.discard(id);
        continue;
      }
      this.logEnd(route, `lost: ${error}`);
      this.close(id, null, error);
    }
  }

  private logEnd(route: CommandRoute, outcome: string): void {
    if (route.logAs === null) return;
    const { caller, call } = route.logAs;
    this.log(callLine(caller, call, outcome, (performance.now() - route.startedAt) / 1000));
  }

  /** The command ended: watchers hear so, and the history keeps it. */
  private close(id: string, code: number | null, error?: string): void {
    const route = this.routes.get(id);
    if (route === undefined) return;
    this.discard(id);
    const { command } = route;
    this.history.record(
      {
        command_id: id,
        command: shellLine(command.argv),
        slave: command.slave,
        who: route.who,
        started: command.started_at,
        duration: (Date.now() - Date.parse(command.started_at)) / 1000,
        exit_code: code,
        ...(error === undefined ? {} : { error }),
      },
      route.tail.take(),
    );
  }
}
