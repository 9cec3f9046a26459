import type { Duplex } from "node:stream";
import { BINARY_FRAMES } from "../../shared/protocol/binary-frame.js";
import { decodeFrame, describeIssue, encodeFrame } from "../../shared/protocol/codec.js";
import type { Role } from "../../shared/protocol/definitions.js";
import { ProtocolError } from "../../shared/protocol/errors.js";
import { MAX_FRAME_BYTES } from "../../shared/protocol/limits.js";
import { close, continueSession, hello, invalidate, resume } from "../../shared/protocol/messages.js";
import { PROTOCOL_VERSION } from "../../shared/protocol/version.js";
import { CoalescingSender } from "../../shared/runtime/coalesce.js";
import type { FrameSocket } from "../../shared/runtime/memory-socket.js";
import type { Authenticator } from "../auth/auth.js";
import { MAX_UNSENT_BYTES_PER_PEER } from "../limits.js";
import { parseRegistration } from "./handshake.js";
import type { HandshakeLimiter } from "./handshake-limiter.js";
import { type Carrier, claimSlaveName, MasterSession, type SessionContext } from "./master-session.js";

export interface PeerContext extends SessionContext {
  auth: Authenticator;
  /** Every open connection, so the master can close them all when it stops. */
  peers: Set<PeerConnection>;
  handshakeTimeoutMs: number;
  handshakes: HandshakeLimiter;
}

/** How many of these connections are registered controls. */
export function countControls(peers: Iterable<PeerConnection>): number {
  let controls = 0;
  for (const peer of peers) if (peer.role === "control") controls++;
  return controls;
}

/** Checks and decodes in one pass (ws's own check is off, so that a bad frame gets a `close` with a reason). */
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function decodeUtf8(payload: Buffer): string {
  try {
    return strictUtf8.decode(payload);
  } catch {
    throw new ProtocolError("frame is not valid UTF-8");
  }
}

const CLOSE_NORMAL = 1000;
const CLOSE_POLICY_VIOLATION = 1008;

/**
 * One WebSocket on `/api/socket`: `hello`, then a registration (a new
 * session) or a `resume` (an existing one), then the session's frames.
 */
export class PeerConnection implements Carrier {
  private session: MasterSession | null = null;
  private readonly handshakeTimer: NodeJS.Timeout;
  private tooSlow = false;
  private admitting = false;

  private readonly sender: CoalescingSender;

  constructor(
    private readonly socket: FrameSocket,
    transport: Pick<Duplex, "cork" | "uncork">,
    readonly address: string,
    private readonly context: PeerContext,
  ) {
    this.sender = new CoalescingSender(socket, transport);
    context.peers.add(this);
    socket.send(encodeFrame(null, hello.type, { version: PROTOCOL_VERSION, extensions: [BINARY_FRAMES] }));
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

  get role(): Role | null {
    return this.session?.role ?? null;
  }

  send(frame: string | Buffer): void {
    this.sender.send(frame);
    if (this.socket.bufferedAmount > MAX_UNSENT_BYTES_PER_PEER && !this.tooSlow) {
      this.tooSlow = true;
      setImmediate(() => this.reject(`peer too slow: over ${MAX_UNSENT_BYTES_PER_PEER} bytes waiting to be sent`));
    }
  }

  drop(reason: string): void {
    this.context.log(`${this.describe()}: ${reason}`);
    this.socket.terminate();
  }

  closeSocket(code: number): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.close(code);
  }

  /** Ends the session (or the handshake) with `close {reason}`. */
  end(reason: string, code = CLOSE_NORMAL): void {
    if (this.session !== null) return this.session.end(reason);
    if (this.socket.readyState !== this.socket.OPEN) return;
    this.socket.send(encodeFrame(null, close.type, { reason }));
    this.socket.close(code);
  }

  private onFrame(payload: Buffer, isBinary: boolean): void {
    try {
      if (payload.length > MAX_FRAME_BYTES) {
        throw new ProtocolError(`frame of ${payload.length} bytes exceeds the limit of ${MAX_FRAME_BYTES} bytes`);
      }
      if (isBinary) {
        if (this.session === null) throw new ProtocolError("a binary frame before registration");
        return this.session.link.receiveBinary(payload);
      }
      const text = decodeUtf8(payload);
      if (this.session !== null) this.session.link.receive(text);
      else if (this.admitting) throw new ProtocolError("a frame arrived before ready");
      else this.handshake(text);
    } catch (error) {
      this.rejectFor(error);
    }
  }

  private handshake(text: string): void {
    const frame = decodeFrame(text);
    if (frame.type !== resume.type) return void this.admit(text, frame.seq);
    const parsed = resume.data.safeParse(frame.data);
    if (!parsed.success) throw new ProtocolError(describeIssue(frame.type, parsed.error));
    const session = this.context.sessions.get(parsed.data.session_token);
    // Unknown, expired, or no longer keeping frames to resend: the client registers anew on this same socket.
    if (session === undefined || !session.link.resumable)
      return this.socket.send(encodeFrame(null, invalidate.type, {}));
    clearTimeout(this.handshakeTimer);
    this.session = session;
    this.socket.send(encodeFrame(null, continueSession.type, { last_seq: session.link.lastReceivedSeq }));
    session.attach(this, parsed.data.last_seq);
    this.context.log(`${session.describe()} resumed its session`);
  }

  /** Checking the token takes a moment: register only if the socket is still open after it. */
  private async admit(text: string, seq: number | null): Promise<void> {
    this.admitting = true;
    try {
      const registration = await parseRegistration(text, this.context.auth);
      if (this.socket.readyState !== this.socket.OPEN) return;
      if (registration.role === "slave")
        claimSlaveName(registration.data, this.context.sessions.values(), this.context.registry.elsewhere);
      clearTimeout(this.handshakeTimer);
      this.session = new MasterSession(registration, seq, this, this.context);
    } catch (error) {
      this.rejectFor(error);
    } finally {
      this.admitting = false;
    }
  }

  private describe(): string {
    return this.session?.describe() ?? this.address;
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

  private onClose(): void {
    clearTimeout(this.handshakeTimer);
    this.context.peers.delete(this);
    this.session?.detach(this);
  }
}
