import { FdChannel } from "../native/index.js";
import { closeQuietly } from "../quietly.js";
import { parseWorkerMessage, preview, type WorkerMessage, WorkerProtocolError } from "./worker-messages.js";

/** A message without its `\0` may not grow past this. */
const MAX_MESSAGE_BYTES = 1024 * 1024;

export interface WorkerSocketHandlers {
  message: (message: WorkerMessage) => void;
  /** An fd arrived (SCM_RIGHTS); the handler owns it. */
  fd: (fd: number) => void;
  /** Garbage, an unterminated message or a socket error: the socket is closed already. */
  failed: (reason: string) => void;
  /** The worker closed its end (a STREAM socket only): it is most likely gone. */
  ended: () => void;
}

/**
 * One worker's socket, DGRAM or STREAM: splits the bytes into `\0`-terminated
 * messages, hands received fds over in order, and reports what is not the
 * protocol. An fd travels with an otherwise empty message.
 */
export class WorkerSocket {
  private readonly channel: FdChannel;
  private partial = "";
  private closed = false;

  constructor(
    fd: number,
    private readonly kind: "dgram" | "stream",
    private readonly handlers: WorkerSocketHandlers,
  ) {
    this.channel = new FdChannel(fd);
    this.channel.on("data", (data, fds) => this.receive(data, fds));
    this.channel.on("end", () => {
      if (this.partial !== "")
        return this.fail(`worker closed its socket after an unterminated message ${preview(this.partial)}`);
      this.close();
      this.handlers.ended();
    });
    this.channel.on("error", (error) => this.fail(`worker socket error: ${error.message}`));
    this.channel.on("dropped", (error) => this.fail(`worker sent a message too large to take: ${error.message}`));
  }

  send(text: string): void {
    if (!this.closed) this.channel.send(Buffer.from(`${text}\0`));
  }

  /** Sends an fd; the caller keeps its own copy and closes it when it likes. */
  sendFd(fd: number): void {
    if (!this.closed) this.channel.send(Buffer.from("\0"), [fd]);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.channel.close();
  }

  /** The kernel ends a read at the message that carries fds, so they belong after the text. */
  private receive(data: Buffer, fds: number[]): void {
    this.receiveText(data);
    for (const fd of fds) {
      if (this.closed) closeQuietly(fd);
      else this.handlers.fd(fd);
    }
  }

  private receiveText(data: Buffer): void {
    if (this.closed) return;
    let text = this.partial + data.toString("utf8");
    if (this.kind === "dgram" && !text.endsWith("\0"))
      return this.fail(`worker sent an unterminated message ${preview(text)}`);
    const messages = text.split("\0");
    text = messages.pop() as string;
    if (text.length > MAX_MESSAGE_BYTES)
      return this.fail(`worker sent over ${MAX_MESSAGE_BYTES} bytes without a terminating \\0`);
    this.partial = text;
    for (const message of messages) {
      if (this.closed) return;
      if (message === "") continue;
      try {
        this.handlers.message(parseWorkerMessage(message));
      } catch (error) {
        if (!(error instanceof WorkerProtocolError)) throw error;
        return this.fail(error.message);
      }
    }
  }

  private fail(reason: string): void {
    if (this.closed) return;
    this.close();
    this.handlers.failed(reason);
  }
}
