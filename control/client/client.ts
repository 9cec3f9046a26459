import { randomBytes } from "node:crypto";
import { relative } from "node:path";
import type { DataOf, RequestOf, ResponseOf } from "../../shared/protocol/definitions.js";
import type { Link } from "../../shared/protocol/link.js";
import {
  commandAckEvent,
  commandExitEvent,
  commandOutputEvent,
  commandResumedEvent,
  commandSlaveEvent,
  history,
  historyOutput,
  listSlaves,
  ping,
  restart,
  status,
  test,
  testDoneEvent,
  testFileEvent,
  testStopEvent,
  watch,
} from "../../shared/protocol/messages.js";
import { connect, type Session } from "../../shared/runtime/connect.js";
import { findMasterFile, isRunning, type MasterFile } from "../../shared/runtime/master-file.js";
import { readCa } from "../../shared/runtime/tls.js";
import { socketUrls } from "../../shared/runtime/url.js";
import { type CommandListener, type OutputSinks, RemoteCommand } from "./remote-command.js";

export interface MasterAddress {
  /** Tried in this order: failover. */
  urls: string[];
  token: string;
  /** Trusted besides the system's CAs, for a wss:// master. */
  ca?: Buffer;
}

/** Where the master is: flags, then OLYMPUS_MASTER / OLYMPUS_TOKEN / OLYMPUS_CA, then `.olympus/master.json` upward from cwd. */
export function resolveMaster(
  flags: { master?: string; token?: string; ca?: string },
  cwd = process.cwd(),
): MasterAddress {
  let file: MasterFile | null | undefined;
  const fromFile = () => {
    if (file === undefined) file = liveMasterFile(cwd);
    return file;
  };
  const url = flags.master ?? process.env.OLYMPUS_MASTER ?? fromFile()?.url;
  if (url === undefined) {
    throw new Error(
      "no master given: pass --master URL, set OLYMPUS_MASTER, or run where `olympus start` wrote .olympus/master.json",
    );
  }
  const token = flags.token ?? process.env.OLYMPUS_TOKEN ?? fromFile()?.token;
  if (token === undefined) throw new Error("no token given: pass --token or set OLYMPUS_TOKEN");
  return { urls: socketUrls(url), token, ca: readCa(flags.ca ?? process.env.OLYMPUS_CA ?? fromFile()?.ca) };
}

/** The nearest master file, unless the process that wrote it is gone (its URL would only be refused, or reach another server). */
function liveMasterFile(cwd: string): MasterFile | null {
  const found = findMasterFile(cwd);
  const pid = found?.contents.pid;
  if (found === null || pid === undefined || isRunning(pid)) return found?.contents ?? null;
  throw new Error(`the master in ${relative(cwd, found.path)} (pid ${pid}) is not running`);
}

export type TestFileEvent = DataOf<typeof testFileEvent>;
export type TestDone = DataOf<typeof testDoneEvent>;

/** A suite the master runs for this control: what it said at the start, its events, and a way to stop it. */
export interface TestSuiteHandle {
  started: ResponseOf<typeof test>;
  /** Resolves with the whole result once the suite is over (also after `stop`). */
  done: Promise<TestDone>;
  /** Ctrl-C: the master stops the suite's commands, then `done` resolves with what ran. */
  stop(): void;
}

interface SuiteListener {
  onFile: (event: TestFileEvent) => void;
  finish: (result: TestDone) => void;
}

/**
 * A control session: the library behind the `control` CLI, for any program.
 * Given several masters, it opens a new session on the first that answers
 * when its own ends, and its commands resume through it.
 */
export class OlympusClient {
  private reconnecting: Promise<Session> | null = null;

  private constructor(
    private session: Session,
    private readonly commands: Map<string, CommandListener>,
    /** The suites this control runs now, by id: their file and done events go to these. */
    private readonly suites: Map<string, SuiteListener>,
    /** A new session; null with one master only, which a lost session leaves nothing to resume through. */
    private readonly open: (() => Promise<Session>) | null,
  ) {
    this.follow(session);
  }

  /** A lost master leaves every command's outcome unknown: they end, or resume through another master. */
  private follow(session: Session): void {
    void session.ended.then((reason) => {
      if (session !== this.session) return;
      for (const command of this.commands.values())
        command.exit({ error: `lost the master: ${reason}` }, this.open !== null);
    });
  }

  /** The link of a live session: this one, or one on the first master of the list that answers. */
  private async liveLink(open: () => Promise<Session>): Promise<Link> {
    if (!this.session.link.closed) return this.session.link;
    this.reconnecting ??= open().finally(() => (this.reconnecting = null));
    const session = await this.reconnecting;
    if (session !== this.session && this.session.link.closed) {
      this.session = session;
      this.follow(session);
    }
    return this.session.link;
  }

  /** `log` hears of a lost connection being resumed, among others. */
  static async connect(
    address: MasterAddress,
    options: {
      agent?: string;
      setup?: (link: Link) => void;
      log?: (line: string) => void;
      /** false: command bytes as JSON with base64, as a client of the base protocol sends them; by default true unless OLYMPUS_BINARY_FRAMES=0. */
      binaryFrames?: boolean;
    } = {},
  ): Promise<OlympusClient> {
    const commands = new Map<string, CommandListener>();
    const suites = new Map<string, SuiteListener>();
    const open = () =>
      connect({
        urls: address.urls,
        token: address.token,
        ca: address.ca,
        agent: options.agent ?? "Olympus control",
        registration: { role: "control" },
        log: options.log,
        binaryFrames: options.binaryFrames ?? process.env.OLYMPUS_BINARY_FRAMES !== "0",
        setup: (link) => {
          routeCommandEvents(link, commands);
          link.onEvent(testFileEvent, (event) => suites.get(event.suite_id)?.onFile(event));
          link.onEvent(testDoneEvent, (result) => suites.get(result.suite_id)?.finish(result));
          options.setup?.(link);
        },
      });
    return new OlympusClient(await open(), commands, suites, address.urls.length > 1 ? open : null);
  }

  /** A command on a slave: call `start`, then await `outcome`. */
  command(slave: string, sinks: OutputSinks): RemoteCommand {
    const open = this.open;
    const reconnect = () => (open === null ? Promise.resolve(this.link) : this.liveLink(open));
    const command = new RemoteCommand(this.link, slave, sinks, reconnect);
    this.commands.set(command.id, command);
    void command.outcome.then(() => this.commands.delete(command.id));
    return command;
  }

  get link(): Link {
    return this.session.link;
  }

  /** Resolves with the reason when the session ends. */
  get ended(): Promise<string> {
    return this.session.ended;
  }

  async listSlaves() {
    return (await this.link.request(listSlaves, {})).slaves;
  }

  /** Round trip in milliseconds, to the master or through it to a slave. */
  async ping(slave?: string): Promise<number> {
    const started = performance.now();
    await this.link.request(ping, slave === undefined ? {} : { slave });
    return performance.now() - started;
  }

  /** Latest process trees: of one slave, or of all. */
  async status(slave?: string) {
    return (await this.link.request(status, slave === undefined ? {} : { slave })).trees;
  }

  /** From now on the link receives tree, node_state and slave events; register handlers with `setup`. */
  async watch(): Promise<void> {
    await this.link.request(watch, {});
  }

  /** Restarts a node and its subtree; without a node the whole tree; without a slave every slave. */
  async restart(slave?: string, node?: string): Promise<string[]> {
    return (await this.link.request(restart, { slave, node })).restarted;
  }

  /**
   * A test suite spread by the master over its slaves' workers; `onFile`
   * hears each file start, end or go back on the queue.
   */
  async test(
    request: Omit<RequestOf<typeof test>, "suite_id">,
    onFile: (event: TestFileEvent) => void,
  ): Promise<TestSuiteHandle> {
    const suiteId = `suite-${randomBytes(9).toString("base64url")}`;
    const done = new Promise<TestDone>((finish) => {
      // Registered before the request: the first file events may come right after the response.
      this.suites.set(suiteId, { onFile, finish });
    });
    void done.then(() => this.suites.delete(suiteId));
    const started = await this.link.request(test, { ...request, suite_id: suiteId }).catch((error: unknown) => {
      this.suites.delete(suiteId);
      throw error;
    });
    return { started, done, stop: () => this.link.event(testStopEvent, { suite_id: suiteId }) };
  }

  /** The commands that ended, oldest first, as the master keeps them (the last 1,000). */
  async history(slave?: string) {
    return (await this.link.request(history, slave === undefined ? {} : { slave })).entries;
  }

  /** The last 64 KiB of an ended command's output. */
  async historyOutput(commandId: string): Promise<Buffer> {
    return Buffer.from((await this.link.request(historyOutput, { command_id: commandId })).output, "base64");
  }

  close(): void {
    this.session.close("control done");
  }
}

function routeCommandEvents(link: Link, commands: Map<string, CommandListener>): void {
  link.onEvent(commandOutputEvent, ({ command_id, stream, data }) =>
    commands.get(command_id)?.output(stream, Buffer.from(data, "base64")),
  );
  link.onBytes(({ stream, commandId, payload }) => {
    if (stream !== "stdin") commands.get(commandId)?.output(stream, payload);
  });
  link.onEvent(commandAckEvent, ({ command_id, bytes }) => commands.get(command_id)?.inputAcknowledged(bytes));
  link.onEvent(commandSlaveEvent, ({ command_id, connected, timeout }) =>
    commands.get(command_id)?.slaveConnection(connected, timeout),
  );
  link.onEvent(commandResumedEvent, (data) => commands.get(data.command_id)?.resumed(link, data));
  link.onEvent(commandExitEvent, ({ command_id, code, error, resumable }) =>
    commands
      .get(command_id)
      ?.exit(
        error !== undefined || code === null ? { error: error ?? "the command ended without an exit code" } : { code },
        resumable,
      ),
  );
}
