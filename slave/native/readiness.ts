import { closeSync } from "node:fs";
import { native, type PollCallback, type Poller } from "./addon.js";

export function closeAll(fds: readonly number[]): void {
  for (const fd of fds) {
    closeSync(fd);
  }
}

export function dupAll(fds: readonly number[]): number[] {
  const copies: number[] = [];
  try {
    for (const fd of fds) {
      copies.push(native.dup(fd));
    }
  } catch (error) {
    closeAll(copies);
    throw error;
  }
  return copies;
}

/**
 * One Poller, re-armed only when the wanted events change. libuv reports
 * POLLERR as a negative status and stops watching; we then pass on the
 * events that were wanted, so the owner's next syscall finds out what
 * actually went wrong (EPIPE, ECONNRESET, EOF...).
 */
export class Readiness {
  readonly #poller: Poller;
  #readable = false;
  #writable = false;
  readonly #callback: PollCallback;

  constructor(fd: number, onReady: (readable: boolean, writable: boolean) => void) {
    this.#poller = new native.Poller(fd);
    this.#callback = (status, readable, writable) => {
      if (status < 0) {
        [readable, writable] = [this.#readable, this.#writable];
        this.#readable = this.#writable = false;
      }
      onReady(readable, writable);
    };
  }

  want(readable: boolean, writable: boolean): void {
    if (readable === this.#readable && writable === this.#writable) {
      return;
    }
    this.#readable = readable;
    this.#writable = writable;
    if (readable || writable) {
      this.#poller.start(readable, writable, this.#callback);
    } else {
      this.#poller.stop();
    }
  }

  /** Stops watching and closes the fd. */
  close(): void {
    this.#poller.close();
  }
}
