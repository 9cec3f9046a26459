import { EventEmitter } from "node:events";
import type { Duplex } from "node:stream";

/** What the master's peer connections and a client session use of a ws WebSocket. */
export interface FrameSocket {
  readonly OPEN: number;
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string | Buffer): void;
  close(code?: number): void;
  terminate(): void;
  on(event: "message", listener: (payload: Buffer, isBinary: boolean) => void): unknown;
  on(event: "close", listener: (code: number) => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
  /** The client's end, once connected: what corks its writes. */
  once(event: "upgrade", listener: (response: { socket: Pick<Duplex, "cork" | "uncork"> }) => void): unknown;
}

const OPEN = 1;
const CLOSED = 3;
/** ws's code for a connection that ended without a close frame. */
const ABNORMAL_CLOSURE = 1006;

/**
 * One end of a connection within one process: the embedded slave of
 * `olympus start` talks to its master through a pair, with none of a
 * socket's syscalls, framing and wake-ups (a keystroke's echo crossed the
 * loopback socket twice, about 180 µs). Frames arrive in order, in a later
 * microtask, as copies: a receiver may renumber a binary frame in place,
 * and the sender's resend buffer keeps the one it sent. Frames sent before
 * close() still arrive, before `close`. The client end reports `upgrade`
 * first, as a WebSocket does.
 */
export class MemorySocket extends EventEmitter implements FrameSocket {
  readonly OPEN = OPEN;
  readyState = OPEN;
  readonly bufferedAmount = 0;
  #peer: MemorySocket | null = null;

  /** [client end, master end] */
  static pair(): [MemorySocket, MemorySocket] {
    const client = new MemorySocket();
    const master = new MemorySocket();
    client.#peer = master;
    master.#peer = client;
    queueMicrotask(() => client.emit("upgrade", { socket: client }));
    return [client, master];
  }

  send(data: string | Buffer): void {
    const peer = this.#peer;
    if (this.readyState !== OPEN || peer === null) return;
    const isBinary = typeof data !== "string";
    const payload = Buffer.from(data);
    queueMicrotask(() => peer.emit("message", payload, isBinary));
  }

  close(code = 1000): void {
    this.#end(code);
  }

  terminate(): void {
    this.#end(ABNORMAL_CLOSURE);
  }

  /** The transport's corking, for the senders that cork a socket: frames here are never written out. */
  cork(): void {}
  uncork(): void {}

  #end(code: number): void {
    const peer = this.#peer;
    if (this.readyState === CLOSED || peer === null) return;
    this.readyState = peer.readyState = CLOSED;
    // After the frames already on their way, as a close frame comes after them.
    setImmediate(() => {
      this.emit("close", code);
      peer.emit("close", code);
    });
  }
}
