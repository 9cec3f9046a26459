import { EventEmitter } from "node:events";
import { native, type Reader, type ReadResult } from "./addon.js";
import { Readiness } from "./readiness.js";

interface StreamEvents {
  data: [data: Buffer];
  /** End of input (0 bytes, or EIO on a PTY master). Reading stops; writing may go on. */
  end: [];
  /** The stream is already closed when this is emitted. */
  error: [error: Error];
}

export type WriteCallback = (error?: Error) => void;

/**
 * A pipe end or PTY master. Starts paused: call resume() to get 'data'.
 * pause() takes effect at once, even inside a 'data' listener.
 */
export class FdStream extends EventEmitter<StreamEvents> {
  readonly fd: number;
  readonly #readiness: Readiness;
  readonly #reader: Reader;
  readonly #queue: { data: Buffer; callback: WriteCallback | undefined }[] = [];
  /** What the reader delivered while we were paused: pause() takes effect at once. */
  readonly #held: ReadResult[] = [];
  #paused = true;
  #readerPaused = true;
  #ended = false;
  #closed = false;

  /** Takes ownership of `fd`. */
  constructor(fd: number) {
    super();
    this.fd = fd;
    this.#readiness = new Readiness(fd, (_readable, writable) => {
      if (writable) this.#flush();
      this.#watch();
    });
    this.#reader = new native.Reader(fd, (result) => {
      if (this.#paused || this.#held.length > 0) this.#held.push(result);
      else this.#take(result);
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Nothing is on its way to 'data': no bytes held, read, or waiting in the fd (see reader.c). */
  get idle(): boolean {
    return this.#closed || (this.#held.length === 0 && this.#reader.idle());
  }

  pause(): void {
    this.#paused = true;
    this.#watch();
  }

  resume(): void {
    this.#paused = false;
    while (this.#held.length > 0 && !this.#paused && !this.#closed) this.#take(this.#held.shift()!);
    this.#watch();
  }

  /**
   * Writes all of `data`, queueing what the fd cannot take now. `callback`
   * runs once every byte is written, or with the error that stopped it.
   * Returns true if everything was written at once.
   */
  write(data: Buffer, callback?: WriteCallback): boolean {
    if (this.#closed) {
      if (callback) process.nextTick(callback, new Error(`FdStream(fd ${this.fd}) is closed`));
      return false;
    }
    this.#queue.push({ data: Buffer.from(data), callback }); // a copy: the caller may reuse its buffer
    this.#flush();
    this.#watch();
    return this.#queue.length === 0;
  }

  /** Closes the fd. Pending write callbacks get an error. Idempotent. */
  close(): void {
    this.#shutdown(new Error(`FdStream(fd ${this.fd}) closed before the data was written`));
  }

  #watch(): void {
    if (this.#closed) return;
    this.#readiness.want(false, this.#queue.length > 0);
    const pauseReader = this.#paused || this.#ended;
    if (pauseReader !== this.#readerPaused) {
      this.#readerPaused = pauseReader;
      if (pauseReader) this.#reader.pause();
      else this.#reader.resume();
    }
  }

  #flush(): void {
    while (this.#queue.length > 0 && !this.#closed) {
      const head = this.#queue[0]!;
      let written: number;
      try {
        written = native.write(this.fd, head.data);
      } catch (error) {
        this.#fail(error as Error);
        return;
      }
      if (written < 0) {
        return;
      }
      if (written < head.data.length) {
        head.data = head.data.subarray(written);
        continue;
      }
      this.#queue.shift();
      if (head.callback) process.nextTick(head.callback);
    }
  }

  #take(result: ReadResult): void {
    if (result instanceof Error) return this.#fail(result);
    if (result === null) {
      this.#ended = true;
      this.#watch();
      this.emit("end");
      return;
    }
    this.emit("data", result);
  }

  #fail(error: Error): void {
    this.#shutdown(error);
    process.nextTick(() => this.emit("error", error));
  }

  #shutdown(reason: Error): void {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    this.#reader.close(); // joins its thread before the fd goes
    this.#readiness.close();
    this.#held.length = 0;
    for (const { callback } of this.#queue.splice(0)) {
      if (callback) process.nextTick(callback, reason);
    }
  }
}
