import { randomBytes } from "node:crypto";
import { BINARY_FRAMES } from "../../shared/protocol/binary-frame.js";
import { ProtocolError } from "../../shared/protocol/errors.js";
import { Heartbeat } from "../../shared/protocol/heartbeat.js";
import { DEFAULT_MAX_REQUESTS_IN_FLIGHT } from "../../shared/protocol/limits.js";
import { Link, type LinkOptions } from "../../shared/protocol/link.js";
import { close, ping, ready, type SlaveInfo, slaveEvent } from "../../shared/protocol/messages.js";
import type { Logger } from "../../shared/runtime/log.js";
import { controlAuthorizer } from "../auth/roles.js";
import { type Credential, expiredRefusal } from "../auth/tokens.js";
import { MAX_UNSENT_BYTES_PER_PEER } from "../limits.js";
import { callLine, describeRequest } from "../routing/call-log.js";
import type { CommandHistory } from "../routing/command-history.js";
import type { CommandRoutes } from "../routing/command-routes.js";
import { serveControl } from "../routing/control-requests.js";
import type { NodeTimeline } from "../routing/node-timeline.js";
import { serveSlave } from "../routing/slave-events.js";
import type { TestSuites } from "../testing/serve-tests.js";
import type { TimingStore } from "../testing/timings.js";
import type { Registration, SlaveRegistration } from "./handshake.js";
import type { SlaveRegistry, SlaveSession, SlavesElsewhere } from "./registry.js";
import type { Watchers } from "./watchers.js";

export interface SessionContext {
  registry: SlaveRegistry;
  watchers: Watchers;
  routes: CommandRoutes;
  /** Test suites running now, and the timings of earlier ones. */
  suites: TestSuites;
  timings: TimingStore;
  /** Commands that ended, and the phases' changes of state over the last hour. */
  history: CommandHistory;
  timeline: NodeTimeline;
  /** Live sessions by token, attached to a socket or waiting for a resume. */
  sessions: Map<string, MasterSession>;
  heartbeatIntervalMs: number;
  sessionTimeoutMs: number;
  /** Sees the frames and request durations of every registered session (for metrics). */
  linkObserver: LinkObserver;
  log: Logger;
  /** Detail behind --verbose: a control's comings and goings, besides its one line per call. */
  debug: Logger;
}

/** What a session needs of the socket that carries it now. */
/** The Link hooks that feed the master's metrics; the same for every session. */
export type LinkObserver = Required<Pick<LinkOptions, "onFrame" | "onRequestAnswered">>;

export interface Carrier {
  send(frame: string | Buffer): void;
  /** Closes the socket, saying why in the log; the session lives on and may be resumed. */
  drop(reason: string): void;
  /** Closes the socket for good, after the session's `close`. */
  closeSocket(code: number): void;
  readonly address: string;
}

const CLOSE_NORMAL = 1000;
/**
 * Frames kept for a peer not yet heard to heartbeat. A peer that heartbeats
 * sends its first beat on `ready`, before any request, so one that has been
 * sent this much without a beat speaks only the base protocol and cannot resume.
 */
const KEPT_BYTES_BEFORE_FIRST_HEARTBEAT = 64 * 1024;
/**
 * A slave's name belongs to one agent. A registration is refused the name
 * while a connected session of another agent holds it, unless it asks to
 * replace that one; a session waiting for a resume gives it up at once, as
 * its agent has most likely restarted. (An agent that only lost its socket
 * resumes its session instead of registering.) With `--nats`, a slave
 * connected to another master holds its name too, unless it is this very
 * agent (the same pid) moving here because its master died.
 */
export function claimSlaveName(
  data: Pick<SlaveRegistration, "name" | "replace" | "pid">,
  sessions: Iterable<MasterSession>,
  elsewhere: SlavesElsewhere | null,
): void {
  const remote = elsewhere?.holder(data.name);
  const anotherAgent = remote?.pid !== undefined && data.pid !== undefined && remote.pid !== data.pid;
  if (remote !== undefined && anotherAgent && data.replace !== true)
    throw new ProtocolError(`a slave named ${data.name} is already connected to ${remote.master} ${heldBy(remote)}`);
  for (const session of sessions) {
    const holder = session.slave?.info;
    if (holder?.name !== data.name) continue;
    if (session.attached && data.replace !== true)
      throw new ProtocolError(`a slave named ${data.name} is already connected ${heldBy(holder)}`);
    session.end("replaced by a new connection");
  }
}

/** Where and since when the agent holding a name is connected, for a refusal to name it. */
function heldBy({ address, pid, connected_at }: SlaveInfo): string {
  return `from ${address} (${pid === undefined ? "" : `pid ${pid}, `}since ${connected_at.slice(11, 19)})`;
}

/** Who a control is, for it to show: its token's role and name (the shared token has none). */
function controlIdentity({ role, entry }: Credential) {
  return { role: role === "slave" ? undefined : role, token_name: entry?.name };
}

/** The longest a Node timer waits (about 24.8 days); a token may live longer. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * One registered peer, from `ready` until it closes, breaks a rule, or stays
 * away longer than the session timeout. Sockets come and go under it: on a
 * resume, the frames the peer has not seen are sent again.
 */
export class MasterSession {
  readonly token = randomBytes(24).toString("base64url");
  readonly link: Link;
  readonly slave: SlaveSession | null = null;
  readonly credential: Credential;
  private carrier: Carrier | null = null;
  private readonly heartbeat: Heartbeat;
  private resumeTimer: NodeJS.Timeout | null = null;
  private tokenTimer: NodeJS.Timeout | null = null;
  private ended = false;
  private registered = false;
  /** The address of the socket that carries it, or last did. */
  private address: string;

  constructor(
    registration: Registration,
    registrationSeq: number | null,
    carrier: Carrier,
    private readonly context: SessionContext,
  ) {
    this.credential = registration.credential;
    this.address = carrier.address;
    const { onRequestAnswered } = context.linkObserver;
    this.link = new Link({
      send: null,
      localRole: "master",
      peerRole: registration.role,
      resumable: true,
      maxRequestsInFlight: DEFAULT_MAX_REQUESTS_IN_FLIGHT,
      ...context.linkObserver,
      onRequestAnswered: (type, seconds, data, error) => {
        onRequestAnswered(type, seconds, data, error);
        if (registration.role === "control") this.logCall(type, seconds, data, error);
      },
      onNumberedFrame: (bytes) => this.heartbeat.frameReceived(bytes),
      authorize: registration.role === "control" ? controlAuthorizer(registration.credential.role) : undefined,
      log: (line) => context.log(`${this.describe()}: ${line}`),
    });
    this.link.binaryFrames = registration.data.extensions?.includes(BINARY_FRAMES) ?? false;
    this.heartbeat = new Heartbeat(this.link, context.heartbeatIntervalMs, () => this.silent());
    this.link.onMessage(close, ({ reason }) => {
      this.lifecycleLog(`${this.describe()} closed the session: ${reason}`);
      this.end(reason, false);
    });
    if (registration.role === "slave") {
      const { agent, version, name, id, pid } = registration.data;
      const info = { id, name, agent, version, address: carrier.address, connected_at: new Date().toISOString(), pid };
      this.slave = {
        info,
        link: this.link,
        tree: { slave: name, nodes: [], commands: [] },
        close: (reason) => this.end(reason),
      };
      serveSlave(this.link, this.slave, context.watchers, context.routes, context.timeline);
    } else {
      serveControl(this.link, this.credential.entry?.name ?? "shared token", context, () => this.describe());
    }
    this.link.receivedOutside(registrationSeq);
    context.sessions.set(this.token, this);
    this.attach(carrier, 0);
    this.link.send(ready, {
      session_token: this.token,
      heartbeat_interval: context.heartbeatIntervalMs / 1000,
      session_timeout: context.sessionTimeoutMs / 1000,
      ...(this.slave === null ? controlIdentity(this.credential) : {}),
    });
    // Heartbeats only after `ready`: before it, the client does not expect them.
    this.registered = true;
    this.heartbeat.start();
    this.lifecycleLog(`${this.describe()} registered`);
    const entry = this.credential.entry;
    if (entry?.expires_at) this.endWhenTokenExpires(Date.parse(entry.expires_at), entry.name);
  }

  get role() {
    return this.link.peerRole;
  }

  /** A socket carries it now (it is not waiting for a resume). */
  get attached(): boolean {
    return this.carrier !== null;
  }

  /** A socket carries the session (again); what the peer has not seen after `peerLastSeq` is sent again. */
  attach(carrier: Carrier, peerLastSeq: number): void {
    if (this.carrier !== null && this.carrier !== carrier)
      this.carrier.drop("an older connection of a resumed session is dropped");
    if (this.resumeTimer !== null) clearTimeout(this.resumeTimer);
    this.resumeTimer = null;
    this.carrier = carrier;
    this.address = carrier.address;
    this.link.attach((frame) => this.send(frame), peerLastSeq);
    if (this.registered) this.heartbeat.start();
    if (this.slave !== null) {
      this.context.registry.add(this.slave);
      this.context.watchers.broadcast(slaveEvent, { slave: this.slave.info, connected: true });
      if (this.registered) this.context.routes.slaveConnection(this.slave, true);
    }
  }

  /** Its socket closed: wait for a resume until the session timeout. */
  detach(carrier: Carrier): void {
    if (carrier !== this.carrier || this.ended) return;
    this.carrier = null;
    this.link.detach();
    this.heartbeat.stop();
    if (this.slave !== null && this.context.registry.remove(this.slave)) {
      this.context.watchers.broadcast(slaveEvent, { slave: this.slave.info, connected: false });
      this.context.routes.slaveConnection(this.slave, false, this.context.sessionTimeoutMs);
    }
    const timeout = this.context.sessionTimeoutMs;
    this.resumeTimer = setTimeout(() => this.end(`no resume within ${timeout / 1000} s`), timeout);
    this.context.log(
      `${this.describe()} lost its connection; waiting ${this.context.sessionTimeoutMs} ms for a resume`,
    );
  }

  /** Ends the session for good, telling the peer why unless it said goodbye itself. */
  end(reason: string, notifyPeer = true): void {
    if (this.ended) return;
    this.ended = true;
    if (this.resumeTimer !== null) clearTimeout(this.resumeTimer);
    if (this.tokenTimer !== null) clearTimeout(this.tokenTimer);
    this.heartbeat.stop();
    if (notifyPeer && this.carrier !== null) this.link.close(reason);
    else this.link.connectionLost(reason);
    this.carrier?.closeSocket(CLOSE_NORMAL);
    this.carrier = null;
    this.context.sessions.delete(this.token);
    this.context.watchers.remove(this.link);
    if (this.slave === null) {
      this.context.routes.controlClosed(this.link);
      this.context.suites.controlClosed(this.link);
    } else {
      this.context.routes.slaveClosed(this.slave, reason);
      if (this.context.registry.remove(this.slave))
        this.context.watchers.broadcast(slaveEvent, { slave: this.slave.info, connected: false });
    }
    // A control that said goodbye ended as expected; any other end is news.
    (notifyPeer ? this.context.log : this.lifecycleLog)(`${this.describe()} ended: ${reason}`);
  }

  /** A control's registration and goodbye are detail (its calls are logged one line each); a slave's are news. */
  private lifecycleLog = (line: string): void => (this.slave === null ? this.context.debug : this.context.log)(line);

  /**
   * One line per call, except a started command's, whose line comes when it
   * ends (with its exit code), and a ping that was answered: a liveness probe
   * is detail, and a line each would cost a prober's master more than the pings.
   */
  private logCall(type: string, seconds: number, data: Record<string, unknown>, error: string | null): void {
    if (error === null && typeof data.command_id === "string") return;
    const line = callLine(
      this.describe(),
      describeRequest(type, data),
      error === null ? "ok" : `error: ${error}`,
      seconds,
    );
    (error === null && type === ping.type ? this.context.debug : this.context.log)(line);
  }

  /**
   * A token's expiry ends the sessions it opened, as revoking it does,
   * attached or waiting for a resume. Checked again when the timer fires,
   * as one cannot wait the whole of a long lifetime.
   */
  private endWhenTokenExpires(expiresAt: number, name: string): void {
    const wait = Math.min(expiresAt - Date.now(), MAX_TIMER_MS);
    this.tokenTimer = setTimeout(() => {
      if (Date.now() < expiresAt) this.endWhenTokenExpires(expiresAt, name);
      else this.end(expiredRefusal(name));
    }, wait).unref();
  }

  /**
   * A peer that heartbeats and then falls silent may be behind a cut network
   * (a laptop's Wi-Fi, a VPN reconnecting): its socket is dropped and its
   * session waits for a resume, as after a closed socket. One that never
   * heartbeated speaks only the base protocol: it keeps its session but
   * cannot resume.
   */
  private silent(): void {
    const carrier = this.carrier;
    if (!this.heartbeat.heardFromPeer) return this.speaksBaseProtocolOnly();
    if (carrier === null) return;
    carrier.drop(`no heartbeat within ${2 * this.context.heartbeatIntervalMs} ms; the connection is dropped`);
    this.detach(carrier);
  }

  private speaksBaseProtocolOnly(): void {
    this.heartbeat.stop();
    this.link.stopKeeping();
  }

  describe(): string {
    const address = this.carrier?.address ?? "detached";
    if (this.slave !== null) return `slave ${this.slave.info.name} (id ${this.slave.info.id}, ${address})`;
    // A master's shared --token has no name of its own.
    return `control ${this.credential.entry?.name ?? "shared-token"} (${this.credential.role}) from ${this.address}`;
  }

  /** A peer that does not acknowledge may not grow the master's memory: past the bound its session ends. */
  private send(frame: string | Buffer): void {
    this.carrier?.send(frame);
    const unacknowledged = this.link.unacknowledgedBytes;
    if (unacknowledged > KEPT_BYTES_BEFORE_FIRST_HEARTBEAT && !this.heartbeat.heardFromPeer)
      this.speaksBaseProtocolOnly();
    else if (unacknowledged > MAX_UNSENT_BYTES_PER_PEER) {
      setImmediate(() => this.end(`peer too slow: over ${MAX_UNSENT_BYTES_PER_PEER} bytes unacknowledged`));
    }
  }
}
