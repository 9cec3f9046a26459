import type { Duplex } from "node:stream";
import WebSocket from "ws";
import { type CommandStream, decodeBinaryFrame, encodeBinaryFrame } from "../../shared/protocol/binary-frame.js";
import { PROTOCOL_VERSION } from "../../shared/protocol/version.js";

export interface RawFrame {
  seq?: number | null;
  type: string;
  data: Record<string, unknown>;
}

/**
 * A bare WebSocket to the master that records every frame, for poking at the
 * protocol; benchmarks also use it as the thinnest possible control.
 */
export class RawClient {
  readonly frames: RawFrame[] = [];
  /** Binary frames received (the binary_frames extension), whole: header and payload. */
  readonly binary: Buffer[] = [];
  /** The master's first frame. */
  hello: RawFrame | null = null;
  readonly closed: Promise<number>;
  private waiters: (() => void)[] = [];
  private transport: Duplex | null = null;
  /** The seq `request` numbers its frames with; tests that number their own frames don't mix the two. */
  private nextSeq = 1;
  private lastFromMaster = 0;
  private heartbeats: NodeJS.Timeout | null = null;
  /** Requests sent by `request`, by seq: their responses settle them instead of being recorded. */
  private readonly pending = new Map<number, (response: RawFrame) => void>();
  private handlers: ((frame: RawFrame) => boolean)[] = [];
  private isClosed = false;

  private constructor(readonly socket: WebSocket) {
    socket.on("message", (payload: Buffer, isBinary) => {
      if (isBinary) {
        this.lastFromMaster = Math.max(this.lastFromMaster, decodeBinaryFrame(payload).seq);
        this.binary.push(payload);
        for (const wake of this.waiters.splice(0)) wake();
        return;
      }
      const frame = JSON.parse(payload.toString()) as RawFrame;
      if (typeof frame.seq === "number") this.lastFromMaster = Math.max(this.lastFromMaster, frame.seq);
      const settle = frame.type.endsWith("_response") ? this.pending.get(frame.data.seq as number) : undefined;
      if (settle !== undefined) {
        this.pending.delete(frame.data.seq as number);
        return settle(frame);
      }
      if (this.handlers.some((handler) => handler(frame))) return;
      this.frames.push(frame);
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) =>
      socket.on("close", (code) => {
        this.isClosed = true;
        for (const wake of this.waiters.splice(0)) wake();
        if (this.heartbeats !== null) clearInterval(this.heartbeats);
        resolve(code);
      }),
    );
  }

  /** Connects; waits for the master's `hello` unless the server is not a master (a benchmark's baseline). */
  static async open(url: string, { hello = true } = {}): Promise<RawClient> {
    const socket = new WebSocket(url);
    const client = new RawClient(socket);
    socket.once("upgrade", (response) => (client.transport = response.socket));
    await new Promise((resolve, reject) => {
      socket.once("open", resolve);
      socket.once("error", reject);
    });
    if (hello) client.hello = await client.next("hello");
    return client;
  }

  /** Registers as a control and keeps the session alive with the heartbeats `ready` asks for. */
  registerControl(token: string, agent = "raw client", extensions?: string[]): Promise<void> {
    return this.register("register_control", {
      agent,
      version: PROTOCOL_VERSION,
      token,
      ...(extensions === undefined ? {} : { extensions }),
    });
  }

  /** Registers as a slave (one that serves no requests unless `onFrame` answers them). */
  registerSlave(token: string, name: string, id: number, agent = "raw client", timeoutMs?: number): Promise<void> {
    return this.register("register_slave", { agent, version: PROTOCOL_VERSION, token, name, id }, timeoutMs);
  }

  private async register(type: string, data: Record<string, unknown>, timeoutMs?: number): Promise<void> {
    this.send({ seq: this.nextSeq++, type, data });
    const ready = await this.next(["ready", "close"], timeoutMs);
    if (ready.type === "close") throw new Error(`refused: ${ready.data.reason}`);
    this.heartbeats = keepAlive(this.socket, ready.data, () => this.lastFromMaster);
  }

  /** Frames `handler` takes (returns true for) are not recorded: how a long-lived client answers requests. */
  onFrame(handler: (frame: RawFrame) => boolean): void {
    this.handlers.push(handler);
  }

  /** Answers `request`, numbering the response as `request` numbers its frames. */
  respond(request: RawFrame, data: Record<string, unknown> = {}): void {
    const type = request.type.replace(/_request$/, "_response");
    this.send({ seq: this.nextSeq++, type, data: { seq: request.seq, ...data } });
  }

  /** Sends a request numbered by this client; resolves with its response frame. */
  request(type: string, data: object): Promise<RawFrame> {
    const seq = this.nextSeq++;
    return new Promise((resolve) => {
      this.pending.set(seq, resolve);
      this.send({ seq, type, data: data as Record<string, unknown> });
    });
  }

  /** Sends a request that must be refused; resolves with the error its response carries. */
  async refusal(type: string, data: object = {}, timeoutMs = 5000): Promise<string> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer to ${type} within ${timeoutMs} ms`)), timeoutMs);
    });
    const { data: answer } = await Promise.race([this.request(type, data), timeout]).finally(() => clearTimeout(timer));
    if (typeof answer.error !== "string")
      throw new Error(`${type} was answered without an error: ${JSON.stringify(answer)}`);
    return answer.error;
  }

  /** Waits for the first frame of `type` (or of one of the types) not yet taken. */
  async next(type: string | string[], timeoutMs = 5000): Promise<RawFrame> {
    const deadline = Date.now() + timeoutMs;
    const types = [type].flat();
    for (;;) {
      const index = this.frames.findIndex((frame) => types.includes(frame.type));
      if (index >= 0) return this.frames.splice(index, 1)[0] as RawFrame;
      if (this.isClosed)
        throw new Error(`the socket closed before a ${type} frame; got ${JSON.stringify(this.frames)}`);
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

  /** Sends a command's bytes as a binary frame numbered by this client (the binary_frames extension). */
  sendBytes(stream: CommandStream, commandId: string, payload: Buffer): void {
    this.send(encodeBinaryFrame(this.nextSeq++, stream, commandId, [payload]));
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

  /** Ends the session the way a control does: `close`, then the socket. */
  close(reason = "done"): void {
    this.send({ seq: this.nextSeq++, type: "close", data: { reason } });
    this.socket.close();
  }
}

/**
 * A master with sessions drops a peer that sends no heartbeat within twice the
 * interval `ready` gives, and keeps what it sent until acknowledged: heartbeats
 * at half the interval, acknowledging `lastFromMaster()`. Null when `ready` asks
 * for none. The caller clears the timer when the socket closes.
 */
export function keepAlive(
  socket: WebSocket,
  ready: Record<string, unknown>,
  lastFromMaster: () => number,
): NodeJS.Timeout | null {
  const interval = ready.heartbeat_interval;
  if (typeof interval !== "number") return null;
  return setInterval(
    () => {
      if (socket.readyState === WebSocket.OPEN)
        socket.send(JSON.stringify({ type: "heartbeat", data: { last_seq: lastFromMaster() } }));
    },
    (interval * 1000) / 2,
  );
}
