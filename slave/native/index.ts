/**
 * The olympus_native addon (slave/native/*.c, built by the root binding.gyp)
 * with types, plus the small classes the agent uses on top of it. Linux only.
 * Nothing here blocks the event loop.
 *
 * Who owns which fd:
 * - Functions that create fds (socketpair, pipe, openpty) give them
 *   to the caller, who closes them with fs.closeSync.
 * - Sending never takes your fds. sendmsg() copies them into the kernel, and
 *   FdChannel.send() keeps duplicates of its own while a message waits in its
 *   queue. Close your fds whenever you like once the call has returned.
 * - Received fds (recvmsg, FdChannel 'data') belong to the receiver and are
 *   close-on-exec. An FdChannel with no 'data' listener closes them itself.
 * - Poller, FdChannel and FdStream own the fd given to their constructor:
 *   close() closes it (FdChannel also closes duplicates still queued).
 */
import { EventEmitter } from 'node:events';
import { closeSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type SocketType = 'stream' | 'dgram';

/** One recvmsg result. `eof` is set (with empty data) when a stream's peer closed. */
export interface Message {
  data: Buffer;
  fds: number[];
  eof?: true;
}

/** End of input: 0 bytes read, or EIO from a PTY master whose slave side is closed. */
export interface Eof {
  eof: true;
}

export interface Pty {
  master: number;
  slave: number;
  path: string;
}

export interface WindowSize {
  cols: number;
  rows: number;
}

/** `status` is 0, or a negative errno (libuv style) when polling failed. */
export type PollCallback = (status: number, readable: boolean, writable: boolean) => void;

/**
 * A uv_poll_t on Node's event loop. `new Poller(fd)` takes ownership of fd
 * (unless it throws): close() stops watching, then closes the fd; do not
 * close it yourself. Only one Poller may watch an fd. Started, it keeps the
 * process alive; stopped or closed, it does not. close() is safe inside the
 * callback, and idempotent.
 */
export interface Poller {
  start(readable: boolean, writable: boolean, callback: PollCallback): void;
  stop(): void;
  close(): void;
}

/** A chunk read, null at end of input, or the error that ended reading. */
type ReadResult = Buffer | null | Error;

/**
 * Reads an fd on a thread of its own (reader.c), starting paused. Borrows the
 * fd: close() joins the thread, and only then may the fd be closed.
 */
interface Reader {
  pause(): void;
  resume(): void;
  close(): void;
}

interface Native {
  socketpair(type: SocketType): [number, number];
  socketType(fd: number): SocketType;
  shutdownWrite(fd: number): void;
  pipe(): [number, number];
  dup(fd: number): number;
  sendmsg(fd: number, data: Buffer, fds: readonly number[]): number;
  recvmsg(fd: number): Message | null;
  read(fd: number, maxBytes: number): Buffer | Eof | null;
  write(fd: number, data: Buffer): number;
  openpty(): Pty;
  setWindowSize(fd: number, cols: number, rows: number): void;
  getWindowSize(fd: number): WindowSize;
  foregroundProcessGroup(fd: number): number;
  pidfdOpen(pid: number): number;
  startGuardian(): number;
  peerPid(fd: number): number;
  startStandIn(): number;
  reap(pid: number): boolean;
  Poller: new (fd: number) => Poller;
  Reader: new (fd: number, callback: (result: ReadResult) => void) => Reader;
}

/** This file runs as slave/native/index.ts or dist/slave/native/index.js; the build lives at the package root. */
function loadAddon(): Native {
  const start = dirname(fileURLToPath(import.meta.url));
  let root = start;
  while (!existsSync(join(root, 'package.json'))) {
    if (dirname(root) === root) {
      throw new Error(`olympus_native: no package.json in ${start} or above`);
    }
    root = dirname(root);
  }
  const path = join(root, 'build', 'Release', 'olympus_native.node');
  if (!existsSync(path)) {
    throw new Error(`olympus_native: ${path} is missing; build it with "npm run install" (node-gyp rebuild, which npm install runs)`);
  }
  return createRequire(import.meta.url)(path) as Native;
}

const native = loadAddon();

const READ_SIZE = 64 * 1024;
/** Reads per readiness callback, so one busy fd cannot starve the loop (polling is level-triggered). */
const READS_PER_WAKEUP = 16;

export const Poller: new (fd: number) => Poller = native.Poller;

/** AF_UNIX socketpair, both ends CLOEXEC and blocking (a child's end must stay blocking). */
export function socketpair(type: SocketType): [number, number] {
  return native.socketpair(type);
}

/** Whether a socket (say, one a worker sent) is a stream or a datagram socket; throws for any other kind. */
export function socketType(fd: number): SocketType {
  return native.socketType(fd);
}

/** shutdown(SHUT_WR): the peer of a stream socket reads EOF; this end can still read. */
export function shutdownWrite(fd: number): void {
  native.shutdownWrite(fd);
}

/** pipe2(O_CLOEXEC) -> [readFd, writeFd]. */
export function pipe(): [number, number] {
  return native.pipe();
}

/**
 * sendmsg with MSG_DONTWAIT: returns the bytes sent (a stream may take only
 * part; the fds then went with the first byte) or -1 if the socket is full.
 * Fds need at least one byte of data. Throws on other errors (EPIPE, ...).
 */
export function sendmsg(fd: number, data: Buffer, fds: readonly number[] = []): number {
  return native.sendmsg(fd, data, fds);
}

/**
 * recvmsg with MSG_DONTWAIT into 64 KiB, up to 64 fds: null if nothing is
 * waiting. Throws code ERR_FDS_TRUNCATED (after closing the fds that did
 * arrive) when a message carried more fds than that.
 */
export function recvmsg(fd: number): Message | null {
  return native.recvmsg(fd);
}

/** Reads at most maxBytes (up to 64 KiB) without blocking: null if nothing is waiting. */
export function readFd(fd: number, maxBytes = READ_SIZE): Buffer | Eof | null {
  return native.read(fd, maxBytes);
}

/** A new PTY pair: master O_NONBLOCK, slave blocking, both CLOEXEC. */
export function openpty(): Pty {
  return native.openpty();
}

export function setWindowSize(fd: number, cols: number, rows: number): void {
  native.setWindowSize(fd, cols, rows);
}

export function getWindowSize(fd: number): WindowSize {
  return native.getWindowSize(fd);
}

/** The terminal's foreground process group (tcgetpgrp), 0 if none. */
export function foregroundProcessGroup(fd: number): number {
  return native.foregroundProcessGroup(fd);
}

/**
 * Forks the guardian, a tiny process that kills the process groups it was
 * told about once this process is gone, even by SIGKILL. Returns the write
 * end of its pipe: int32 N registers group N, -N forgets it; closing it (or
 * dying) makes the guardian act and exit.
 */
export function startGuardian(): number {
  return native.startGuardian();
}

/** The pid of the process that made this UNIX socket's pair (SO_PEERCRED). */
export function peerPid(fd: number): number {
  return native.peerPid(fd);
}

/**
 * Forks a child that holds no fds, ignores every catchable signal, dies with
 * this process, and otherwise waits to be SIGKILLed. Reap it with reap().
 */
export function startStandIn(): number {
  return native.startStandIn();
}

/** Waits for a child forked by this addon without blocking: true once reaped (or not our child). */
export function reap(pid: number): boolean {
  return native.reap(pid);
}

function closeAll(fds: readonly number[]): void {
  for (const fd of fds) {
    closeSync(fd);
  }
}

function dupAll(fds: readonly number[]): number[] {
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
class Readiness {
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

const TRUNCATION_CODES = new Set(['ERR_MESSAGE_TRUNCATED', 'ERR_FDS_TRUNCATED']);

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
      throw new RangeError('FdChannel.send: fds need at least one byte of data to travel with');
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
          this.emit('dropped', error as Error);
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
        this.emit('end');
        return;
      }
      if (!this.emit('data', message.data, message.fds)) {
        closeAll(message.fds); // nobody to own them
      }
    }
  }

  #fail(error: Error): void {
    this.close();
    process.nextTick(() => this.emit('error', error));
  }
}

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
      this.emit('end');
      return;
    }
    this.emit('data', result);
  }

  #fail(error: Error): void {
    this.#shutdown(error);
    process.nextTick(() => this.emit('error', error));
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

/**
 * Calls onExit (once, asynchronously) when process `pid` exits. Works for any
 * process, not only our children. If it is gone already, onExit still runs.
 * close() cancels and frees the pidfd.
 */
export function watchProcessExit(pid: number, onExit: () => void): { close(): void } {
  let fd: number;
  try {
    fd = native.pidfdOpen(pid);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') {
      throw error;
    }
    const immediate = setImmediate(onExit);
    return { close: () => clearImmediate(immediate) };
  }

  let poller: Poller;
  try {
    poller = new native.Poller(fd);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  const close = (): void => poller.close();
  // A pidfd only ever reports readable (exited); any wakeup means the process is gone.
  poller.start(true, false, () => {
    close();
    onExit();
  });
  return { close };
}
