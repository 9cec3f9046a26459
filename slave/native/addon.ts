/** The olympus_native addon (slave/native/*.c, built by the root binding.gyp), loaded and typed, with its thin wrappers. */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export type SocketType = "stream" | "dgram";

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
  /** Calls back on hang-up alone: a pidfd's once its process has been reaped. */
  startHangup(callback: PollCallback): void;
  stop(): void;
  close(): void;
}

/** A chunk read, null at end of input, or the error that ended reading. */
export type ReadResult = Buffer | null | Error;

/**
 * Reads an fd on a thread of its own (reader.c), starting paused. Borrows the
 * fd: close() joins the thread, and only then may the fd be closed.
 */
export interface Reader {
  pause(): void;
  resume(): void;
  /** No output on its way: none read and undelivered, none waiting in the fd. */
  idle(): boolean;
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
  exitStatus(pidfd: number, pid: number): { code: number | null; signal: number | null } | null;
  exitStatusByPidfd(): boolean;
  startGuardian(): number;
  peerPid(fd: number): number;
  startStandIn(): number;
  reap(pid: number): boolean;
  Poller: new (fd: number) => Poller;
  Reader: new (fd: number, callback: (result: ReadResult) => void) => Reader;
}
/** This file runs as slave/native/addon.ts or dist/slave/native/addon.js; the build lives at the package root. */
function loadAddon(): Native {
  const start = dirname(fileURLToPath(import.meta.url));
  let root = start;
  while (!existsSync(join(root, "package.json"))) {
    if (dirname(root) === root) {
      throw new Error(`olympus_native: no package.json in ${start} or above`);
    }
    root = dirname(root);
  }
  const path = join(root, "build", "Release", "olympus_native.node");
  if (!existsSync(path)) {
    throw new Error(
      `olympus_native: ${path} is missing; build it with "npm run install" (node-gyp rebuild, which npm install runs)`,
    );
  }
  return createRequire(import.meta.url)(path) as Native;
}

export const native = loadAddon();

const READ_SIZE = 64 * 1024;

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
