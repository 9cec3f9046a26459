import { EventEmitter } from "node:events";
import { type Message, native } from "./addon.js";
import { closeAll, dupAll, Readiness } from "./readiness.js";

/** Reads per readiness callback, so one busy fd cannot starve the loop (polling is level-triggered). */
const READS_PER_WAKEUP = 16;

interface ChannelEvents {
  /** `fds` now belong to the listener. */
  data: [data: Buffer, fds: number[]];
  /** A stream's peer closed. Reading stops; call close(). */
  end: [];
  /** The channel is already closed when this is emitted. */
  error: [error: Error];
  /** A message was too large and was cut; it is lost, the channel reads on. */
  dropped: [error: Error];
}

const TRUNCATION_CODES = new Set(["ERR_MESSAGE_TRUNCATED", "ERR_FDS_TRUNCATED"]);

/**
 * A UNIX socket (stream or dgram) that carries data with fds. Reads every
 * message as it arrives and emits 'data'. send() never blocks: what the
 * socket cannot take now waits in order in a queue.
 */
export class FdChannel extends EventEmitter<ChannelEvents> {
  readonly fd: number;
  readonly #readiness: Readiness;
  readonly #queue: { data: Buffer; fds: number[] }[] = [];
  #reading = true;
  #closed = false;

  /** Takes ownership of `fd`. */
  constructor(fd: number) {
    super();
    this.fd = fd;
    this.#readiness = new Readiness(fd, (readable, writable) => {
      if (writable) this.#flush();
      if (readable) this.#receive();
      this.#watch();
    });
    this.#watch();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends `data` with `fds` (at least one byte if there are fds). Returns true
   * if the kernel took all of it now, false if it was queued, or dropped
   * because the channel is closed. Your fds stay yours either way.
   */
  send(data: Buffer, fds: readonly number[] = []): boolean {
    if (this.#closed) {
      return false;
    }
    if (fds.length > 0 && data.length === 0) {
      throw new RangeError("FdChannel.send: fds need at least one byte of data to travel with");
    }
    let rest = data;
    let restFds = fds;
    if (this.#queue.length === 0) {
      let sent: number;
      try {
        sent = native.sendmsg(this.fd, data, fds);
      } catch (error) {
        this.#fail(error as Error);
        return false;
      }
      if (sent === data.length) {
        return true;
      }
      if (sent > 0) {
        rest = data.subarray(sent);
        restFds = [];
      }
    }
    // Copies, so the caller may reuse its buffer and close its fds right away.
    this.#queue.push({ data: Buffer.from(rest), fds: dupAll(restFds) });
    this.#watch();
    return false;
  }

  /** Closes the socket and any fds still queued. Idempotent. */
  close(): void {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    this.#readiness.close();
    for (const entry of this.#queue.splice(0)) {
      closeAll(entry.fds);
    }
  }

  #watch(): void {
    if (!this.#closed) {
      this.#readiness.want(this.#reading, this.#queue.length > 0);
    }
  }

  #flush(): void {
    while (this.#queue.length > 0 && !this.#closed) {
      const head = this.#queue[0]!;
      let sent: number;
      try {
        sent = native.sendmsg(this.fd, head.data, head.fds);
      } catch (error) {
        this.#fail(error as Error);
        return;
      }
      if (sent < 0) {
        return;
      }
      closeAll(head.fds); // the kernel holds them now
      head.fds = [];
      if (sent === head.data.length) {
        this.#queue.shift();
      } else {
        head.data = head.data.subarray(sent);
      }
    }
  }

  #receive(): void {
    for (let i = 0; i < READS_PER_WAKEUP && this.#reading && !this.#closed; i++) {
      let message: Message | null;
      try {
        message = native.recvmsg(this.fd);
      } catch (error) {
        // A truncated message is gone, but the socket is fine: say so and read on.
        if (TRUNCATION_CODES.has((error as NodeJS.ErrnoException).code ?? "")) {
          this.emit("dropped", error as Error);
          continue;
        }
        this.#fail(error as Error);
        return;
      }
      if (message === null) {
        return;
      }
      if (message.eof) {
        this.#reading = false;
        this.emit("end");
        return;
      }
      if (!this.emit("data", message.data, message.fds)) {
        closeAll(message.fds); // nobody to own them
      }
    }
  }

  #fail(error: Error): void {
    this.close();
    process.nextTick(() => this.emit("error", error));
  }
}
