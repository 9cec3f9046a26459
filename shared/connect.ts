import WebSocket from "ws";
import type { Role } from "./definitions.js";
import { ProtocolError } from "./errors.js";
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, MAX_FRAME_BYTES, MAX_WEBSOCKET_PAYLOAD_BYTES } from "./limits.js";
import { Link } from "./link.js";
import { close, hello, ready, registerControl, registerSlave } from "./messages.js";
import { PROTOCOL_VERSION, versionMismatch } from "./version.js";

export type Registration =
  | { role: "slave"; name: string; id: number }
  | { role: "control" };

export interface ConnectOptions {
  url: string;
  token: string;
  agent: string;
  registration: Registration;
  handshakeTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** Extra trusted CA certificates for wss://. */
  ca?: Buffer;
  /** Registers handlers before `ready`, so no early frame finds the link unprepared. */
  setup?: (link: Link) => void;
  log?: (line: string) => void;
}

export interface Session {
  link: Link;
  /** Resolves with the reason once the session has ended, however it ended. */
  ended: Promise<string>;
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
  const role: Role = options.registration.role;
  const socket = new WebSocket(options.url, { maxPayload: MAX_WEBSOCKET_PAYLOAD_BYTES, ca: options.ca });
  const link = new Link({
    send: (text) => socket.send(text),
    localRole: role,
    peerRole: "master",
    requestTimeoutMs: options.requestTimeoutMs,
    log: options.log,
  });
  let endReason: string | null = null;
  let markEnded: (reason: string) => void = () => {};
  const ended = new Promise<string>((resolve) => (markEnded = resolve));

  const end = (reason: string) => {
    if (endReason !== null) return;
    endReason = reason;
    link.connectionLost(reason);
    markEnded(reason);
  };

  const session: Session = {
    link,
    ended,
    close(reason) {
      if (socket.readyState === WebSocket.OPEN) link.close(reason);
      end(reason);
      socket.close(1000);
    },
  };

  return new Promise<Session>((resolve, reject) => {
    const fail = (reason: string, refused = false) => {
      clearTimeout(timer);
      end(reason);
      socket.terminate();
      reject(new ConnectError(reason, refused));
    };
    const timeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    const timer = setTimeout(() => fail(`no ready from ${options.url} within ${timeoutMs} ms`), timeoutMs);

    link.onMessage(hello, ({ version }) => {
      const mismatch = versionMismatch(PROTOCOL_VERSION, version);
      if (mismatch !== null) return fail(`master speaks ${mismatch}`, true);
      const common = { agent: options.agent, version: PROTOCOL_VERSION, token: options.token };
      const registration = options.registration;
      if (registration.role === "slave") link.send(registerSlave, { ...common, name: registration.name, id: registration.id });
      else link.send(registerControl, common);
    });
    let isReady = false;
    link.onMessage(ready, () => {
      isReady = true;
      clearTimeout(timer);
      resolve(session);
    });
    link.onMessage(close, ({ reason }) => {
      if (isReady) end(`master closed the session: ${reason}`);
      else fail(`master refused: ${reason}`, true);
    });
    options.setup?.(link);

    socket.on("message", (payload, isBinary) => {
      try {
        if (isBinary) throw new ProtocolError("binary frames are not part of the protocol");
        const text = payload.toString();
        if (text.length > MAX_FRAME_BYTES) throw new ProtocolError(`frame of ${text.length} bytes exceeds the limit of ${MAX_FRAME_BYTES}`);
        link.receive(text);
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        options.log?.(`closing: ${error.message}`);
        session.close(error.message);
        if (!isReady) reject(new ConnectError(error.message, true));
      }
    });
    socket.on("error", (error) => (isReady ? options.log?.(`socket error: ${error.message}`) : fail(`cannot connect to ${options.url}: ${error.message}`)));
    socket.on("close", (code) => {
      if (!isReady) return fail(`connection to ${options.url} closed during the handshake (code ${code})`);
      end(`connection lost (code ${code})`);
    });
  });
}
