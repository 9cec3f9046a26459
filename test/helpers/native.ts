// What the native addon's tests share: fd bookkeeping and readers of channels and streams.
import assert from "node:assert/strict";
import { closeSync, readdirSync, readFileSync } from "node:fs";
import type { FdChannel, FdStream } from "../../slave/native/index.js";
/** A hang fails the test instead of stalling the run. */
export const LIMIT = { timeout: 10_000 };
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;

export function openFdCount(): number {
  return readdirSync("/proc/self/fd").length;
}

export function fdFlags(fd: number): number {
  const match = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"));
  assert.ok(match, `no flags in /proc/self/fdinfo/${fd}`);
  return parseInt(match[1]!, 8);
}

export function closeAll(fds: number[]): void {
  for (const fd of fds) closeSync(fd);
}

/** Everything a channel receives, so a test can wait for some text to show up. */
export function gather(channel: FdChannel) {
  const got = { bytes: [] as Buffer[], fds: [] as number[] };
  const waiters = new Set<() => void>();
  channel.on("data", (data, fds) => {
    got.bytes.push(data);
    got.fds.push(...fds);
    for (const wake of waiters) wake();
  });
  const text = (): string => Buffer.concat(got.bytes).toString("latin1");
  const until = (done: () => boolean): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (done()) {
          waiters.delete(check);
          resolve();
        }
      };
      waiters.add(check);
      check();
    });
  return { got, text, until, untilText: (needle: string) => until(() => text().includes(needle)) };
}

/** Reads a stream to its end. */
export function readToEnd(stream: FdStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on("data", (chunk) => chunks.push(chunk));
  const ended = new Promise<Buffer>((resolve, reject) => {
    stream.once("end", () => resolve(Buffer.concat(chunks)));
    stream.once("error", reject);
  });
  stream.resume();
  return ended;
}
