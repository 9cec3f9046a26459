import { randomBytes } from "node:crypto";
import type { BinaryFrame } from "../../shared/protocol/binary-frame.js";
import type { EventDefinition } from "../../shared/protocol/definitions.js";
import {
  commandAckEvent,
  commandExitEvent,
  commandInputEvent,
  commandOutputEvent,
  commandSignalEvent,
  run,
  testDoneEvent,
  testFileEvent,
  testProgressEvent,
} from "../../shared/protocol/messages.js";
import type { CommandOwner, CommandRoutes } from "../routing/command-routes.js";
import type { SlaveRegistry, SlaveSession } from "../sessions/registry.js";
import type { Watchers } from "../sessions/watchers.js";
import type { TestQueue } from "./queue.js";

/** A slave taking part in a suite, with how many files it may run at once. */
export interface Participant {
  session: SlaveSession;
  jobs: number;
  /** False once it left or its phase crashed: it gets no more files. */
  active: boolean;
  /** Its files on their slots, and those held back behind them. */
  running: Set<Attempt>;
  files: number;
  seconds: number;
  failures: number;
}

/** One file running on one slave, as one command. */
interface Attempt {
  id: string;
  file: string;
  participant: Participant;
  /** The file running on the slot it is held back for, until that one ends; null once it has the slot. */
  after: Attempt | null;
  /** The file held back for this one's slot. */
  next: Attempt | null;
  /** The slave started its command. */
  commandStarted: boolean;
  /** When it got its slot: taken off the queue for a free one, or its predecessor ended. */
  startedAt: number;
  firstByteAt: number | null;
  output: Buffer[];
  outputBytes: number;
  /** The phase's worker pid when the file started: another pid at the end means the phase restarted under it. */
  phasePid: number | null;
  settled: boolean;
}

type Outcome = { code: number | null; signal: string | null; error?: string };

/** The output a file's event carries: its tail, so one frame stays well under the 1 MiB limit. */
const MAX_OUTPUT_BYTES = 192 * 1024;
/** A reason (a crash report, say) is cut to this many characters, the catalogue's bound. */
const MAX_REASON_CHARS = 64 * 1024;
/** After SIGTERM, what a stopped file's command gets if it is still there. */
const KILL_AFTER_MS = 1000;

export interface SuiteOptions {
  id: string;
  control: CommandOwner;
  /** The token name of the control that started the suite, for the history of its commands. */
  who: string;
  command: string;
  phase: string;
  participants: Participant[];
  queue: TestQueue;
  routes: CommandRoutes;
  registry: SlaveRegistry;
  watchers: Watchers;
  /** The suite is over: the durations of the files that ran to their end, and the failures. */
  onDone: (durations: Map<string, number>, failed: string[]) => void;
}

/**
 * A suite on the master: idle slots on the participating slaves take the next
 * file from the queue; each file is one `run` of the command with the file as
 * its only argument. Each running file has the next one held back behind it
 * (`run {after}`), so that the slave starts it as soon as the slot is free,
 * with its runner forked meanwhile. Files lost with their slave or phase go
 * back on the queue.
 */
export class TestSuite {
  private readonly failed: string[] = [];
  private readonly notRun: string[] = [];
  private readonly durations = new Map<string, number>();
  private readonly startedAt = performance.now();
  private stopped = false;
  private done = false;
  private readonly stopListening: () => void;

  private readonly total: number;

  constructor(private readonly options: SuiteOptions) {
    this.total = options.queue.length;
    this.stopListening = options.registry.onRemoved((session) => this.slaveLeft(session));
  }

  start(): void {
    this.pump();
  }

  /** Ctrl-C or a vanished control: every running file gets SIGTERM, then SIGKILL, and the suite ends. */
  stop(): void {
    if (this.stopped || this.done) return;
    this.stopped = true;
    const attempts = this.options.participants.flatMap((participant) => [...participant.running]);
    for (const attempt of attempts) this.signal(attempt, "SIGTERM");
    setTimeout(() => {
      for (const attempt of attempts) if (!attempt.settled) this.signal(attempt, "SIGKILL");
    }, KILL_AFTER_MS).unref();
    this.finishIfIdle();
  }

  private pump(): void {
    if (this.stopped || this.done) return this.finishIfIdle();
    this.fillSlots(false);
    // Only files lost on the slaves still free are left, and nothing runs that could take them elsewhere.
    if (this.options.participants.every((participant) => participant.running.size === 0)) this.fillSlots(true);
    this.finishIfIdle();
  }

  /** Every free slot first, then one file held back behind each one that started. */
  private fillSlots(anyFile: boolean): void {
    this.inRounds(anyFile, (participant) => (slotHolders(participant).length < participant.jobs ? null : undefined));
    this.inRounds(anyFile, (participant) =>
      slotHolders(participant).find((attempt) => attempt.commandStarted && attempt.next === null),
    );
  }

  /**
   * One file per slave per round, so that a short queue is spread over hosts
   * before it doubles up on one. `slotOf` says which running file the next
   * one waits for (null: none, the slot is free), undefined when it takes none.
   */
  private inRounds(anyFile: boolean, slotOf: (participant: Participant) => Attempt | null | undefined): void {
    for (let dispatched = true; dispatched; ) {
      dispatched = false;
      for (const participant of this.options.participants) {
        const after = participant.active ? slotOf(participant) : undefined;
        if (after === undefined) continue;
        const file = this.options.queue.next(participant.session.info.name, anyFile);
        if (file === undefined) continue;
        this.dispatch(participant, file, after);
        dispatched = true;
      }
    }
  }

  private dispatch(participant: Participant, file: string, after: Attempt | null): void {
    const { session } = participant;
    // Chosen here, not from the suite's id: a control picks command ids too, and must not be able to take one.
    const id = `test-${randomBytes(12).toString("base64url")}`;
    const phase = session.tree.nodes.find((node) => node.name === this.options.phase);
    const attempt: Attempt = {
      id,
      file,
      participant,
      after,
      next: null,
      commandStarted: false,
      startedAt: performance.now(),
      firstByteAt: null,
      output: [],
      outputBytes: 0,
      phasePid: phase?.pid ?? null,
      settled: false,
    };
    participant.running.add(attempt);
    if (after !== null) after.next = attempt;
    this.options.routes.open(id, this.ownerFor(attempt), session, [this.options.command, file], {
      who: this.options.who,
    });
    if (after === null) this.tell(attempt, "started");
    const data = {
      slave: session.info.name,
      command_id: id,
      command: this.options.command,
      args: [file],
      terminal: null,
      after: after?.id,
    };
    session.link.request(run, data).then(
      () => {
        attempt.commandStarted = true;
        session.link.event(commandInputEvent, { command_id: id, eof: true });
        // Its successor's runner forks now, not in the same instant as this file's.
        if (!attempt.settled) this.pump();
      },
      (error: Error) => {
        this.options.routes.discard(id);
        // The slave's phase crashed: it gets no more files, and this one, which never started, runs elsewhere.
        if (/^phase .* crashed/.test(error.message)) participant.active = false;
        this.settle(attempt, { code: null, signal: null, error: error.message }, false);
      },
    );
  }

  /** The suite stands where a control would: it hears the command's output and exit, and acknowledges the output. */
  private ownerFor(attempt: Attempt): CommandOwner {
    return {
      // A binary frame's payload is a view into the frame: kept, it is copied.
      forwardBytes: (frame: BinaryFrame) => this.output(attempt, Buffer.from(frame.payload)),
      event: (definition: EventDefinition, data: never) => {
        const event = data as { data?: string } & Outcome;
        if (definition.type === commandOutputEvent.type) this.output(attempt, Buffer.from(event.data ?? "", "base64"));
        else if (definition.type === commandExitEvent.type) this.settle(attempt, event);
      },
    };
  }

  private output(attempt: Attempt, bytes: Buffer): void {
    if (bytes.length === 0) return;
    attempt.firstByteAt ??= performance.now();
    attempt.output.push(bytes);
    attempt.outputBytes += bytes.length;
    while (attempt.outputBytes - (attempt.output[0]?.length ?? 0) >= MAX_OUTPUT_BYTES) {
      attempt.outputBytes -= (attempt.output.shift() as Buffer).length;
    }
    attempt.participant.session.link.event(commandAckEvent, { command_id: attempt.id, bytes: bytes.length });
  }

  /** `ran`: false when the command never started, so losing it is no fault of the file's. */
  private settle(attempt: Attempt, outcome: Outcome, ran = true): void {
    if (attempt.settled) return;
    attempt.settled = true;
    const { participant, file } = attempt;
    participant.running.delete(attempt);
    this.passSlot(attempt);
    const seconds = (performance.now() - attempt.startedAt) / 1000;
    const lost = this.lostReason(attempt, outcome);
    if (this.stopped) {
      this.notRun.push(file);
    } else if (lost !== null && this.options.queue.requeue(file, participant.session.info.name, ran)) {
      this.tell(attempt, "requeued", { reason: lost });
    } else {
      const passed = lost === null && outcome.code === 0;
      participant.files++;
      participant.seconds += seconds;
      if (!passed) participant.failures++;
      if (lost === null) this.durations.set(file, seconds);
      const status = passed ? "passed" : "failed";
      if (!passed) this.failed.push(file);
      const reason = lost === null ? undefined : `lost twice: ${lost}`;
      this.tell(attempt, status, { seconds, output: this.outputOf(attempt), reason });
    }
    this.pump();
  }

  /** The file held back for this one's slot has it now (the slave started it as this one's process ended). */
  private passSlot(attempt: Attempt): void {
    if (attempt.after !== null) attempt.after.next = null;
    const next = attempt.next;
    attempt.next = null;
    if (next === null) return;
    next.after = null;
    // Its output may have overtaken this one's exit.
    next.startedAt = Math.min(performance.now(), next.firstByteAt ?? Number.POSITIVE_INFINITY);
    if (!this.stopped) this.tell(next, "started");
  }

  /**
   * Why the file's result does not count, or null when it does: its slave
   * went away, or its phase restarted while it ran (a command outlives its
   * phase's restart, so it ran on code that has since changed).
   */
  private lostReason(attempt: Attempt, outcome: Outcome): string | null {
    if (outcome.error !== undefined) return outcome.error;
    const { session } = attempt.participant;
    const phase = session.tree.nodes.find((node) => node.name === this.options.phase);
    if (phase?.state === "ready" && phase.pid === attempt.phasePid) return null;
    return `phase ${this.options.phase} restarted on ${session.info.name} while it ran`;
  }

  private slaveLeft(session: SlaveSession): void {
    const participant = this.options.participants.find((candidate) => candidate.session === session);
    if (participant === undefined) return;
    participant.active = false;
    for (const attempt of [...participant.running]) {
      // If the slave comes back, these commands must not run on unseen.
      this.signal(attempt, "SIGKILL");
      this.options.routes.discard(attempt.id);
      this.settle(attempt, { code: null, signal: null, error: `slave ${session.info.name} disconnected` });
    }
  }

  private signal(attempt: Attempt, signal: "SIGTERM" | "SIGKILL"): void {
    attempt.participant.session.link.event(commandSignalEvent, { command_id: attempt.id, signal });
  }

  private finishIfIdle(): void {
    if (this.done) return;
    const participants = this.options.participants;
    if (participants.some((participant) => participant.running.size > 0)) return;
    const canRun = participants.some((participant) => participant.active);
    if (!this.stopped && canRun && this.options.queue.length > 0) return;
    this.done = true;
    this.broadcastProgress();
    this.stopListening();
    this.notRun.push(...this.options.queue.drain());
    this.options.onDone(this.durations, this.failed);
    this.options.control.event(testDoneEvent, {
      suite_id: this.options.id,
      seconds: (performance.now() - this.startedAt) / 1000,
      stopped: this.stopped,
      not_run: this.notRun,
      slaves: participants.map(({ session, files, seconds, failures }) => ({
        name: session.info.name,
        files,
        seconds,
        failures,
      })),
    });
  }

  /** For the dashboard: what each slave has done and runs, and how long the queue is. */
  private broadcastProgress(): void {
    this.options.watchers.broadcast(testProgressEvent, {
      suite_id: this.options.id,
      command: this.options.command,
      queued: this.options.queue.length,
      total: this.total,
      over: this.done,
      slaves: this.options.participants.map((participant) => ({
        name: participant.session.info.name,
        done: participant.files,
        running: slotHolders(participant).length,
        failures: participant.failures,
      })),
    });
  }

  private outputOf(attempt: Attempt): string {
    return Buffer.concat(attempt.output).subarray(-MAX_OUTPUT_BYTES).toString("utf8");
  }

  private tell(
    attempt: Attempt,
    state: "started" | "passed" | "failed" | "requeued",
    extra: { seconds?: number; output?: string; reason?: string } = {},
  ): void {
    const firstByte = attempt.firstByteAt === null ? undefined : (attempt.firstByteAt - attempt.startedAt) / 1000;
    this.broadcastProgress();
    this.options.control.event(testFileEvent, {
      suite_id: this.options.id,
      slave: attempt.participant.session.info.name,
      file: attempt.file,
      state,
      ...(state === "started" ? {} : { first_byte_seconds: firstByte }),
      ...extra,
      reason: extra.reason?.slice(0, MAX_REASON_CHARS),
    });
  }
}

/** A participant's files that hold a slot, not held back behind another. */
function slotHolders(participant: Participant): Attempt[] {
  return [...participant.running].filter((attempt) => attempt.after === null);
}
