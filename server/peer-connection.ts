import type { WebSocket } from "ws";
import { encodeFrame } from "../shared/codec.js";
import { ProtocolError } from "../shared/errors.js";
import { DEFAULT_MAX_REQUESTS_IN_FLIGHT, MAX_FRAME_BYTES, MAX_UNSENT_BYTES_PER_PEER } from "../shared/limits.js";
import { Link, type LinkOptions } from "../shared/link.js";
import type { Role } from "../shared/definitions.js";
import type { Logger } from "../shared/log.js";
import { close, hello, ready, slaveEvent } from "../shared/messages.js";
import { PROTOCOL_VERSION } from "../shared/version.js";
import type { Authenticator } from "./auth.js";
import { serveControl } from "./control-requests.js";
import { parseRegistration, type Registration } from "./handshake.js";
import type { HandshakeLimiter } from "./handshake-limiter.js";
import type { CommandRoutes } from "./command-routes.js";
import type { SlaveRegistry, SlaveSession } from "./registry.js";
import { controlAuthorizer } from "./roles.js";
import { serveSlave } from "./slave-events.js";
import type { Credential } from "./tokens.js";
import type { Watchers } from "./watchers.js";

export interface PeerContext {
  auth: Authenticator;
  registry: SlaveRegistry;
  watchers: Watchers;
  routes: CommandRoutes;
  /** Every open connection, so the master can close them all when it stops. */
  peers: Set<PeerConnection>;
  handshakeTimeoutMs: number;
  handshakes: HandshakeLimiter;
  /** Sees every frame of every registered session (for metrics); one hook per session. */
  frameObserver: () => LinkOptions["onFrame"];
  log: Logger;
}

/** How many of these connections are registered controls. */
export function countControls(peers: Iterable<PeerConnection>): number {
  let controls = 0;
  for (const peer of peers) if (peer.role === "control") controls++;
  return controls;
}

const CLOSE_NORMAL = 1000;
const CLOSE_POLICY_VIOLATION = 1008;

/** One WebSocket on `/api/socket`, from `hello` to close. */
export class PeerConnection {
  private link: Link | null = null;
  private slave: SlaveSession | null = null;
  private readonly handshakeTimer: NodeJS.Timeout;
  private tooSlow = false;
  private admitting = false;
  /** The token this session registered with, so that revoking it can end the session. */
  credential: Credential | null = null;

  constructor(
    private readonly socket: WebSocket,
    private readonly address: string,
    private readonly context: PeerContext,
  ) {
    context.peers.add(this);
    socket.send(encodeFrame(1, hello.type, { version: PROTOCOL_VERSION }));
    this.handshakeTimer = setTimeout(
      () => this.reject(`no register_slave or register_control within ${context.handshakeTimeoutMs} ms`),
      context.handshakeTimeoutMs,
    );
    if (!context.handshakes.allow(address)) {
      this.reject(`too many connections from ${address} (limit ${context.handshakes.perMinute} per minute)`);
    }
    socket.on("message", (payload: Buffer, isBinary: boolean) => this.onFrame(payload, isBinary));
    socket.on("close", () => this.onClose());
    socket.on("error", (error) => context.log(`${address}: socket error: ${error.message}`));
  }

  private onFrame(payload: Buffer, isBinary: boolean): void {
    try {
      if (isBinary) throw new ProtocolError("binary frames are not part of the protocol");
      if (payload.length > MAX_FRAME_BYTES) {
        throw new ProtocolError(`frame of ${payload.length} bytes exceeds the limit of ${MAX_FRAME_BYTES} bytes`);
      }
      const text = payload.toString("utf8");
      if (this.link !== null) this.link.receive(text);
      else if (this.admitting) throw new ProtocolError("a frame arrived before ready");
      else void this.admit(text);
    } catch (error) {
      this.rejectFor(error);
    }
  }

  /** Checking the token takes a moment: register only if the socket is still open after it. */
  private async admit(text: string): Promise<void> {
    this.admitting = true;
    try {
      const registration = await parseRegistration(text, this.context.auth);
      if (this.socket.readyState === this.socket.OPEN) this.register(registration);
    } catch (error) {
      this.rejectFor(error);
    }
  }

  private register(registration: Registration): void {
    clearTimeout(this.handshakeTimer);
    this.credential = registration.credential;
    const link = new Link({
      send: (text) => this.send(text),
      maxRequestsInFlight: DEFAULT_MAX_REQUESTS_IN_FLIGHT,
      localRole: "master",
      peerRole: registration.role,
      firstSeq: 2,
      onFrame: this.context.frameObserver(),
      authorize: registration.role === "control" ? controlAuthorizer(registration.credential.role) : undefined,
      log: (line) => this.context.log(`${this.describe()}: ${line}`),
    });
    this.link = link;
    link.onMessage(close, ({ reason }) => {
      this.context.log(`${this.describe()} closed the session: ${reason}`);
      link.connectionLost(reason);
      this.socket.close(CLOSE_NORMAL);
    });
    if (registration.role === "slave") {
      const { agent, version, name, id } = registration.data;
      const info = { id, name, agent, version, address: this.address, connected_at: new Date().toISOString() };
      this.slave = { info, link, tree: { slave: name, nodes: [], commands: [] }, close: (reason) => this.end(reason, CLOSE_NORMAL) };
      serveSlave(link, this.slave, this.context.watchers, this.context.routes);
      this.context.registry.add(this.slave);
      this.context.watchers.broadcast(slaveEvent, { slave: info, connected: true });
    } else {
      serveControl(link, this.context);
    }
    link.send(ready, {});
    this.context.log(`${this.describe()} registered`);
  }

  /** A peer that does not read may not grow the master's memory: past the bound it is closed. */
  private send(text: string): void {
    this.socket.send(text);
    if (this.socket.bufferedAmount > MAX_UNSENT_BYTES_PER_PEER && !this.tooSlow) {
      this.tooSlow = true;
      setImmediate(() => this.reject(`peer too slow: over ${MAX_UNSENT_BYTES_PER_PEER} bytes waiting to be sent`));
    }
  }

  private describe(): string {
    if (this.slave !== null) return `slave ${this.slave.info.name} (id ${this.slave.info.id}, ${this.address})`;
    return this.link === null ? this.address : `control ${this.address}`;
  }

  private rejectFor(error: unknown): void {
    if (error instanceof ProtocolError) this.reject(error.message);
    else this.reject(`internal error: ${(error as Error).message}`);
  }

  /** The peer broke a rule: say why, then close. */
  private reject(reason: string): void {
    this.context.log(`closing ${this.describe()}: ${reason}`);
    this.end(reason, CLOSE_POLICY_VIOLATION);
  }

  get role(): Role | null {
    return this.link?.peerRole ?? null;
  }

  /** Ends the session with `close {reason}`. */
  end(reason: string, code = CLOSE_NORMAL): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    if (this.link !== null) this.link.close(reason);
    else this.socket.send(encodeFrame(2, "close", { reason }));
    this.socket.close(code);
  }

  private onClose(): void {
    clearTimeout(this.handshakeTimer);
    this.context.peers.delete(this);
    if (this.link === null) return;
    this.link.connectionLost("connection closed");
    this.context.watchers.remove(this.link);
    if (this.slave === null) this.context.routes.controlClosed(this.link);
    else {
      this.context.routes.slaveClosed(this.slave);
      if (this.context.registry.remove(this.slave)) this.context.watchers.broadcast(slaveEvent, { slave: this.slave.info, connected: false });
      this.context.log(`${this.describe()} disconnected`);
    }
  }
}
