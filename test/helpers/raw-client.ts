import type { Duplex } from "node:stream";
import WebSocket from "ws";

export interface RawFrame {
  seq?: number | null;
  type: string;
  data: Record<string, unknown>;
}

/** A bare WebSocket to the master that records every frame, for poking at the protocol. */
export class RawClient {
  readonly frames: RawFrame[] = [];
  /** Binary frames received, whole (header and payload). */
  readonly binary: Buffer[] = [];
  readonly closed: Promise<number>;
  private waiters: (() => void)[] = [];
  private transport: Duplex | null = null;
  /** The master's first frame. */
  hello: RawFrame | null = null;

  private constructor(readonly socket: WebSocket) {
    socket.on("message", (payload: Buffer, isBinary) => {
      if (isBinary) this.binary.push(payload);
      else this.frames.push(JSON.parse(payload.toString()) as RawFrame);
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => socket.on("close", (code) => resolve(code)));
  }

  static async open(url: string): Promise<RawClient> {
    const socket = new WebSocket(url);
    const client = new RawClient(socket);
    socket.once("upgrade", (response) => (client.transport = response.socket));
    await new Promise((resolve, reject) => {
      socket.once("open", resolve);
      socket.once("error", reject);
    });
    client.hello = await client.next("hello");
    return client;
  }

  /** Waits for the first frame of `type` not yet taken. */
  async next(type: string, timeoutMs = 5000): Promise<RawFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.frames.findIndex((frame) => frame.type === type);
      if (index >= 0) return this.frames.splice(index, 1)[0] as RawFrame;
      if (Date.now() > deadline)
        throw new Error(`no ${type} frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames)}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  /** A Buffer goes as a binary frame. */
  send(frame: RawFrame | string | Buffer): void {
    this.socket.send(typeof frame === "string" || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame));
  }

  /** Sends the frames in one write, so that the master reads them together. */
  sendTogether(...frames: (RawFrame | string | Buffer)[]): void {
    const transport = this.transport as Duplex;
    transport.cork();
    for (const frame of frames) this.send(frame);
    transport.uncork();
  }

  /** Expects the master to end the session: returns the `close` reason. */
  async closeReason(): Promise<string> {
    const close = await this.next("close");
    await this.closed;
    return close.data.reason as string;
  }
}
