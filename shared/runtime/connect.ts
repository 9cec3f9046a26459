import WebSocket from "ws";
import { BINARY_FRAMES } from "../protocol/binary-frame.js";
import { ProtocolError } from "../protocol/errors.js";
import { Heartbeat } from "../protocol/heartbeat.js";
import {
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_MAX_REQUESTS_IN_FLIGHT,
  MAX_FRAME_BYTES,
  MAX_WEBSOCKET_PAYLOAD_BYTES,
} from "../protocol/limits.js";
import { Link } from "../protocol/link.js";
import {
  close,
  continueSession,
  hello,
  invalidate,
  ready,
  registerControl,
  registerSlave,
  resume,
} from "../protocol/messages.js";
import { PROTOCOL_VERSION, versionMismatch } from "../protocol/version.js";
import { CoalescingSender } from "./coalesce.js";
import { diagnoseConnectError } from "./connect-errors.js";
import { maskKeyFor } from "./frame-mask.js";
import type { FrameSocket } from "./memory-socket.js";

export type Registration = { role: "slave"; name: string; id: number; replace?: boolean } | { role: "control" };

export interface ConnectOptions {
  /** Masters to try in this order; a resume that cannot reach one tries the next. */
  urls: string[];
  token: string;
  agent: string;
  registration: Registration;
  handshakeTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** Extra trusted CA certificates for wss://. */
  ca?: Buffer;
  /** Take the master's offer of binary frames for command bytes (the default); false keeps them JSON with base64. */
  binaryFrames?: boolean;
  /** Opens each socket instead of a WebSocket to the URL: a master in this same process (see memory-socket.ts). */
  openSocket?: () => FrameSocket;
  /** Registers handlers before `ready`, so no early frame finds the link unprepared. */
  setup?: (link: Link) => void;
  log?: (line: string) => void;
}

export interface Session {
  link: Link;
  /** The master's URL the session is on now. */
  readonly url: string;
  /** Resolves with the reason once the session has ended, however it ended. */
  ended: Promise<string>;
  /** Whether it ended because its connection stayed lost past the session timeout: the master has given up on it too. */
  readonly expired: boolean;
  close(reason: string): void;
}

/** The session broke before `ready`; `refused` when the master said no (retrying will not help). */
export class ConnectError extends Error {
  override name = "ConnectError";
  constructor(
    message: string,
    readonly refused = false,
  ) {
    super(message);
  }
}

/** Opens a session with a master: `hello` → `register_*` → `ready`. */
export function connect(options: ConnectOptions): Promise<Session> {
  return new ClientSession(options).opened;
}

/** How soon a lost socket is retried; doubled per failure up to a second, until the session times out. */
const FIRST_RESUME_RETRY_MS = 100;
const MAX_RESUME_RETRY_MS = 1000;

/**
 * A client's session. When its socket drops, it reconnects and sends
 * `resume` instead of registering; on `continue` the frames the master has
 * not seen are sent again, so requests, events and output survive the drop.
 */
class ClientSession implements Session {
  readonly link: Link;
  readonly ended: Promise<string>;
  readonly opened: Promise<Session>;
  private markEnded: (reason: string) => void = () => {};
  private resolveOpened: (session: Session) => void = () => {};
  private rejectOpened: (error: Error) => void = () => {};
  private socket: FrameSocket | null = null;
  /** Sends on the current socket; set once its upgrade succeeded, which comes before any frame. */
  private sender: CoalescingSender | null = null;
  private endReason: string | null = null;
  expired = false;
  private isReady = false;
  private sessionToken: string | null = null;
  private sessionTimeoutMs = 0;
  private heartbeat: Heartbeat | null = null;
  private resumeDeadline = 0;
  private resumeAttempts = 0;
  private attemptTimer: NodeJS.Timeout | null = null;
  /** Which of `urls` the next socket goes to. */
  private urlIndex = 0;
  /** A socket error before `ready` is being put into words; the close that follows it waits for them. */
  private diagnosing = false;

  constructor(private readonly options: ConnectOptions) {
    this.ended = new Promise((resolve) => (this.markEnded = resolve));
    this.opened = new Promise((resolve, reject) => {
      this.resolveOpened = resolve;
      this.rejectOpened = reject;
    });
    this.link = new Link({
      send: null,
      localRole: options.registration.role,
      peerRole: "master",
      resumable: true,
      // The master answers past its limit with errors; a fan-out to more slaves than that waits instead.
      maxOwnRequestsInFlight: DEFAULT_MAX_REQUESTS_IN_FLIGHT,
      onNumberedFrame: (bytes) => this.heartbeat?.frameReceived(bytes),
      requestTimeoutMs: options.requestTimeoutMs,
      log: options.log,
    });
    this.link.onMessage(hello, ({ version, extensions }) => this.onHello(version, extensions ?? []));
    this.link.onMessage(ready, (data) => this.onReady(data));
    this.link.onMessage(continueSession, ({ last_seq }) => this.onContinue(last_seq));
    this.link.onMessage(invalidate, () => this.finish("the master no longer knows this session"));
    this.link.onMessage(close, ({ reason }) => {
      if (this.isReady) this.finish(`master closed the session: ${reason}`);
      else this.fail(`master refused: ${reason}`, true);
    });
    options.setup?.(this.link);
    this.open();
  }

  get url(): string {
    return this.options.urls[this.urlIndex] as string;
  }

  close(reason: string): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.link.close(reason);
    this.finish(reason);
  }

  private open(): void {
    const socket: FrameSocket =
      this.options.openSocket?.() ??
      new WebSocket(this.url, {
        maxPayload: MAX_WEBSOCKET_PAYLOAD_BYTES,
        ca: this.options.ca,
        generateMask: maskKeyFor(this.url),
        // Text frames are JSON, parsed and validated anyway.
        skipUTF8Validation: true,
      });
    this.socket = socket;
    socket.once("upgrade", (response) => (this.sender = new CoalescingSender(socket, response.socket)));
    const timeoutMs = this.options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    this.attemptTimer = setTimeout(() => {
      if (this.isReady) socket.terminate();
      else this.fail(`no ready from ${this.url} within ${timeoutMs} ms`);
    }, timeoutMs);
    socket.on("message", (payload: Buffer, isBinary: boolean) => {
      if (socket === this.socket) this.onFrame(payload, isBinary);
    });
    socket.on("error", (error) => {
      // A socket lost after `ready` resumes on the next master in the list.
      if (this.isReady) {
        this.urlIndex = (this.urlIndex + 1) % this.options.urls.length;
        return;
      }
      this.diagnosing = true;
      void diagnoseConnectError(this.url, error).then(({ message, refused }) => {
        this.diagnosing = false;
        if (!this.tryNextUrl(message)) this.fail(message, refused);
      });
    });
    socket.on("close", (code) => {
      if (socket === this.socket) this.onSocketClosed(code);
    });
  }

  private onFrame(payload: Buffer, isBinary: boolean): void {
    try {
      if (payload.length > MAX_FRAME_BYTES)
        throw new ProtocolError(`frame of ${payload.length} bytes exceeds the limit of ${MAX_FRAME_BYTES}`);
      if (isBinary) this.link.receiveBinary(payload);
      else this.link.receive(payload.toString("utf8"));
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.options.log?.(`closing: ${error.message}`);
      if (this.isReady) this.close(error.message);
      else this.fail(error.message, true);
    }
  }

  private onHello(version: string, offered: string[]): void {
    const mismatch = versionMismatch(PROTOCOL_VERSION, version);
    if (mismatch !== null) return this.fail(`master speaks ${mismatch}`, true);
    const send = (this.sender as CoalescingSender).send;
    if (this.sessionToken !== null) {
      return this.link.sendUnnumbered(
        resume,
        { session_token: this.sessionToken, last_seq: this.link.lastReceivedSeq },
        send,
      );
    }
    this.link.attach(send, 0);
    const { token, agent, registration } = this.options;
    this.link.binaryFrames = this.options.binaryFrames !== false && offered.includes(BINARY_FRAMES);
    const common = {
      agent,
      version: PROTOCOL_VERSION,
      token,
      ...(this.link.binaryFrames ? { extensions: [BINARY_FRAMES] } : {}),
    };
    if (registration.role === "control") this.link.send(registerControl, common);
    else {
      const { name, id, replace } = registration;
      this.link.send(registerSlave, { ...common, name, id, pid: process.pid, ...(replace ? { replace } : {}) });
    }
  }

  private onReady(data: { session_token?: string; heartbeat_interval?: number; session_timeout?: number }): void {
    this.clearAttemptTimer();
    this.isReady = true;
    this.sessionToken = data.session_token ?? null;
    this.sessionTimeoutMs = (data.session_timeout ?? 0) * 1000;
    if (data.heartbeat_interval !== undefined) {
      this.heartbeat = new Heartbeat(this.link, data.heartbeat_interval * 1000, () => this.socket?.terminate());
      this.heartbeat.start();
    }
    this.resolveOpened(this);
  }

  private onContinue(masterLastSeq: number): void {
    this.clearAttemptTimer();
    this.link.attach((this.sender as CoalescingSender).send, masterLastSeq);
    this.heartbeat?.start();
    this.resumeDeadline = 0;
    this.resumeAttempts = 0;
    this.options.log?.(`resumed the session with ${this.url}`);
  }

  private onSocketClosed(code: number): void {
    this.clearAttemptTimer();
    this.socket = null;
    this.link.detach();
    this.heartbeat?.stop();
    if (this.endReason !== null || this.diagnosing) return;
    if (!this.isReady) return this.fail(`connection to ${this.url} closed during the handshake (code ${code})`);
    if (this.sessionToken === null) return this.finish(`connection lost (code ${code})`);
    if (this.resumeDeadline === 0) this.resumeDeadline = Date.now() + this.sessionTimeoutMs;
    if (Date.now() >= this.resumeDeadline) {
      this.expired = true;
      return this.finish(`connection lost (code ${code}) and not resumed within ${this.sessionTimeoutMs / 1000} s`);
    }
    if (this.resumeAttempts === 0) {
      this.options.log?.(
        `connection to ${this.url} lost, resuming (up to ${Math.round((this.resumeDeadline - Date.now()) / 1000)} s)`,
      );
    }
    const delay = Math.min(MAX_RESUME_RETRY_MS, FIRST_RESUME_RETRY_MS * 2 ** this.resumeAttempts++);
    setTimeout(() => {
      if (this.endReason === null) this.open();
    }, delay);
  }

  /** Before `ready`, a master that cannot be reached gives way to the next in the list, if any. */
  private tryNextUrl(reason: string): boolean {
    if (this.urlIndex + 1 >= this.options.urls.length) return false;
    this.urlIndex++;
    this.options.log?.(`${reason}; trying ${this.url}`);
    this.clearAttemptTimer();
    this.socket = null;
    this.open();
    return true;
  }

  private clearAttemptTimer(): void {
    if (this.attemptTimer !== null) clearTimeout(this.attemptTimer);
    this.attemptTimer = null;
  }

  /** The session failed before `ready`. */
  private fail(reason: string, refused = false): void {
    this.finish(reason);
    this.rejectOpened(new ConnectError(reason, refused));
  }

  /** The session is over for good. */
  private finish(reason: string): void {
    if (this.endReason !== null) return;
    this.endReason = reason;
    this.clearAttemptTimer();
    this.heartbeat?.stop();
    this.link.connectionLost(reason);
    this.socket?.close(1000);
    this.sender?.flush(); // the process may exit right after close()
    this.markEnded(reason);
  }
}
