// Tests of the native addon's streams (slave/native): FdChannel, FdStream over pipes,
// PTYs, process exits and the poller, on real fds and processes.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { closeSync, writeSync } from "node:fs";
import { test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";

import {
  type ExitStatus,
  exitStatusKnown,
  FdChannel,
  FdStream,
  foregroundProcessGroup,
  getWindowSize,
  openpty,
  Poller,
  pipe,
  readFd,
  sendmsg,
  setWindowSize,
  socketpair,
  watchProcessExit,
} from "../slave/native/index.js";

import { closeAll, fdFlags, gather, LIMIT, O_CLOEXEC, O_NONBLOCK, openFdCount, readToEnd } from "./helpers/native.js";

test("FdChannel.send (stream) queues when the peer is full; every byte arrives in order", LIMIT, async () => {
  const [a, b] = socketpair("stream");
  const sender = new FdChannel(a);
  const sent: Buffer[] = [];
  let accepted = true;
  while (accepted) {
    const chunk = randomBytes(1000 + ((sent.length * 37) % 9000)); // odd sizes, so sends split
    sent.push(chunk);
    accepted = sender.send(chunk);
  }
  const [readEnd, writeEnd] = pipe();
  for (let i = 0; i < 20; i++) {
    const chunk = randomBytes(5000);
    sent.push(Buffer.from(chunk));
    assert.equal(sender.send(chunk, i === 10 ? [writeEnd] : []), false, "queued behind the rest");
    chunk.fill(0); // send() copied what it queued
  }
  closeSync(writeEnd); // our copy; the channel queued a duplicate

  const total = sent.reduce((sum, chunk) => sum + chunk.length, 0);
  const inbox = gather(new FdChannel(b));
  await inbox.until(() => inbox.got.bytes.reduce((sum, chunk) => sum + chunk.length, 0) >= total);
  assert.ok(Buffer.concat(inbox.got.bytes).equals(Buffer.concat(sent)));
  assert.equal(inbox.got.fds.length, 1);
  writeSync(inbox.got.fds[0]!, "fd from the queue");
  closeAll(inbox.got.fds);
  assert.equal((readFd(readEnd) as Buffer).toString(), "fd from the queue");
  closeSync(readEnd);
  sender.close();
});

test("FdChannel.send (dgram) queues when the peer is full; every message arrives in order", LIMIT, async () => {
  const [a, b] = socketpair("dgram");
  const sender = new FdChannel(a);
  let count = 0;
  while (sender.send(Buffer.from(`message ${count++}`)));
  for (let i = 0; i < 50; i++) {
    assert.equal(sender.send(Buffer.from(`message ${count++}`)), false);
  }

  const received: string[] = [];
  const receiver = new FdChannel(b);
  receiver.on("data", (data) => received.push(data.toString()));
  while (received.length < count) await delay(5);
  assert.deepEqual(
    received,
    Array.from({ length: count }, (_, i) => `message ${i}`),
  );
  sender.close();
  receiver.close();
});

test("FdChannel closes fds that nobody listens for, and queued fds on close()", LIMIT, async () => {
  const before = openFdCount();
  // A pipe reports EOF once every copy of its write end is closed: here, the
  // copy that arrives at a channel without a 'data' listener.
  const [readEnd, writeEnd] = pipe();
  const [a, b] = socketpair("dgram");
  const unheard = new FdChannel(b);
  sendmsg(a, Buffer.from("x"), [writeEnd]);
  closeSync(writeEnd);
  let result = readFd(readEnd);
  while (result === null) {
    await delay(5);
    result = readFd(readEnd);
  }
  assert.deepEqual(result, { eof: true });
  unheard.close();

  // The same for the duplicate a full channel queues, once it is closed.
  const [readEnd2, writeEnd2] = pipe();
  const [c, d] = socketpair("dgram");
  const full = new FdChannel(c);
  while (full.send(Buffer.from("fill")));
  assert.equal(full.send(Buffer.from("x"), [writeEnd2]), false);
  closeSync(writeEnd2);
  assert.equal(readFd(readEnd2), null, "the queued duplicate keeps the pipe open");
  full.close();
  assert.deepEqual(readFd(readEnd2), { eof: true });

  closeAll([a, d, readEnd, readEnd2]);
  assert.equal(openFdCount(), before);
});

test("FdStream.idle is false while any byte is on its way to 'data', even with the loop stalled", LIMIT, async () => {
  const [readEnd, writeEnd] = pipe();
  const stream = new FdStream(readEnd);
  assert.equal(stream.idle, true, "nothing written yet");
  writeSync(writeEnd, "held");
  assert.equal(stream.idle, false, "a paused stream with bytes in the pipe");
  const chunks: Buffer[] = [];
  stream.on("data", (chunk) => chunks.push(chunk));
  stream.resume();
  while (chunks.length === 0) await delay(5);
  assert.equal(stream.idle, true, "every byte delivered");

  // The loop stalls: the reader's thread takes the bytes, but 'data' cannot come yet.
  writeSync(writeEnd, "stalled");
  const until = Date.now() + 200;
  while (Date.now() < until) assert.equal(stream.idle, false, "bytes in the pipe, in the thread's hands or queued");
  assert.equal(Buffer.concat(chunks).toString(), "held");
  while (Buffer.concat(chunks).length < "heldstalled".length) await delay(5);
  assert.equal(stream.idle, true);
  closeSync(writeEnd);
  stream.close();
});

test("FdStream over a pipe: order kept, pause() holds data back at once, EPIPE is an error", LIMIT, async () => {
  const [readEnd, writeEnd] = pipe();
  const reader = new FdStream(readEnd);
  const writer = new FdStream(writeEnd);
  const payload = randomBytes(1 << 20);
  const written = new Promise<Error | undefined>((resolve) => writer.write(payload, resolve));

  const chunks: Buffer[] = [];
  let pausedAt = -1;
  reader.on("data", (chunk) => {
    chunks.push(chunk);
    if (chunks.length === 3) {
      reader.pause();
      pausedAt = chunks.length;
    }
  });
  await readerTurn();
  assert.equal(chunks.length, 0, "a new FdStream is paused");
  reader.resume();
  while (pausedAt < 0) await delay(5);
  await readerTurn();
  assert.equal(chunks.length, pausedAt, "no data after pause()");
  reader.resume();
  while (Buffer.concat(chunks).length < payload.length) await delay(5);
  assert.equal(await written, undefined);
  assert.ok(Buffer.concat(chunks).equals(payload));

  // Fill the pipe, queue more, then lose the reader: poll reports POLLERR and
  // the queued write fails with EPIPE.
  reader.pause();
  let queued = true;
  const failed = new Promise<Error | undefined>(
    (resolve) => (queued = !writer.write(randomBytes(256 * 1024), resolve)),
  );
  assert.ok(queued, "the pipe is full and the rest waits in the queue");
  const errored = once(writer, "error");
  reader.close();
  const [error] = (await errored) as [NodeJS.ErrnoException];
  assert.equal(error.code, "EPIPE");
  assert.equal(((await failed) as NodeJS.ErrnoException).code, "EPIPE");
  assert.equal(writer.closed, true);
});

/**
 * Resolves once a fresh FdStream has read a byte waiting in its pipe: a
 * reader that was going to deliver data it should not have had its turn too.
 */
async function readerTurn(): Promise<void> {
  const [readEnd, writeEnd] = pipe();
  writeSync(writeEnd, "x");
  const stream = new FdStream(readEnd);
  const data = once(stream, "data");
  stream.resume();
  await data;
  stream.close();
  closeSync(writeEnd);
}

test("openpty: slave output reaches the master, window size round-trips", LIMIT, async () => {
  const pty = openpty();
  assert.match(pty.path, /^\/dev\/pts\/\d+$/);
  assert.equal(fdFlags(pty.master) & (O_NONBLOCK | O_CLOEXEC), O_NONBLOCK | O_CLOEXEC);
  assert.equal(fdFlags(pty.slave) & (O_NONBLOCK | O_CLOEXEC), O_CLOEXEC);

  setWindowSize(pty.master, 132, 43);
  assert.deepEqual(getWindowSize(pty.slave), { cols: 132, rows: 43 });

  const master = new FdStream(pty.master);
  let output = "";
  master.on("data", (chunk) => (output += chunk.toString()));
  master.resume();
  writeSync(pty.slave, "hello\n");
  while (!output.includes("hello")) await delay(5);
  assert.equal(output, "hello\r\n", "the line discipline maps \\n to \\r\\n");
  master.close();
  closeSync(pty.slave);
});

test("openpty: every byte of a large output arrives before end (3 runs of 1 MiB)", LIMIT, async () => {
  for (let run = 0; run < 3; run++) {
    const pty = openpty();
    const child = spawn("python3", ["-c", 'import os\nfor _ in range(256): os.write(1, b"x" * 4096)'], {
      stdio: ["ignore", pty.slave, "inherit"],
    });
    const exited = once(child, "exit"); // listening before reading: the exit may come before our end of input
    closeSync(pty.slave); // the child holds the only slave fd: its exit ends our input
    const output = await readToEnd(new FdStream(pty.master));
    assert.equal(output.length, 1 << 20);
    await exited;
  }
});

test("foregroundProcessGroup names the process group owning the terminal", LIMIT, async () => {
  const pty = openpty();
  assert.equal(foregroundProcessGroup(pty.master), 0, "no session yet");
  const script =
    'import fcntl, os, sys, termios\nfcntl.ioctl(0, termios.TIOCSCTTY, 0)\nos.write(1, b"ready\\n")\nsys.stdin.readline()';
  const child = spawn("python3", ["-c", script], { stdio: [pty.slave, pty.slave, "inherit"], detached: true });
  const exited = once(child, "exit");
  const master = new FdStream(pty.master);
  let output = "";
  master.on("data", (chunk) => (output += chunk.toString()));
  master.resume();
  while (!output.includes("ready")) await delay(5);

  assert.equal(foregroundProcessGroup(pty.master), child.pid);
  master.write(Buffer.from("\n"));
  assert.deepEqual(await exited, [0, null]);
  master.close();
  closeSync(pty.slave);
});

test("watchProcessExit fires when a process exits, and for one already gone", LIMIT, async () => {
  const started = Date.now();
  const sleeper = spawn("sleep", ["0.2"]);
  await new Promise<void>((resolve) => watchProcessExit(sleeper.pid!, resolve));
  assert.ok(Date.now() - started >= 150, "not before the process exited");

  const quick = spawn("true");
  await once(quick, "exit"); // reaped by Node: the pid is gone
  await new Promise<void>((resolve) => watchProcessExit(quick.pid!, resolve));

  const long = spawn("sleep", ["5"]);
  let fired = false;
  watchProcessExit(long.pid!, () => (fired = true)).close();
  long.kill();
  await once(long, "exit");
  // A barrier: a process that ends after `long` is reported in the same turn of the loop or a later one.
  const later = spawn("sleep", ["5"]);
  const laterGone = new Promise<void>((resolve) => watchProcessExit(later.pid!, resolve));
  later.kill();
  await laterGone;
  assert.equal(fired, false, "close() cancels");
});

test("exitStatus tells how a process that is not our child ended: from its zombie, or once reaped", LIMIT, async () => {
  const statusOf = (pid: number) =>
    new Promise<ExitStatus | null>((resolve) => {
      const watch = watchProcessExit(pid, () => watch.exitStatus(resolve));
    });
  // A zombie: the shell starts `sleep`, then becomes a perl that reaps it only when told. The sleep
  // dies once perl runs: a shell that saw it die first might reap it itself.
  const perl = "$| = 1; print qq(ready $ARGV[0]\\n); <STDIN>; exit(wait() > 0 ? 0 : 1)";
  const parent = spawn("sh", ["-c", `sleep 30 & exec perl -e '${perl}' $!`]);
  let said = "";
  for await (const chunk of parent.stdout) {
    said += chunk;
    if (said.endsWith("\n")) break;
  }
  const sleeper = Number(/^ready (\d+)\n$/.exec(said)?.[1]);
  const fromZombie = statusOf(sleeper);
  process.kill(sleeper, "SIGTERM");
  assert.deepEqual(await fromZombie, { code: null, signal: "SIGTERM" });
  parent.stdin.end("reap\n");
  assert.deepEqual(await once(parent, "exit"), [0, null]);

  // Node reaps its own children at once: once reaped, only the pidfd can tell (Linux 6.15).
  const quick = spawn("sh", ["-c", "exit 7"]);
  const status = await statusOf(quick.pid as number);
  if (exitStatusKnown()) assert.deepEqual(status, { code: 7, signal: null });
  else assert.ok(status === null || status.code === 7, JSON.stringify(status));
});

test("Poller: stopped ones let the process exit; close() inside the callback is safe", LIMIT, async () => {
  const index = new URL("../slave/native/index.js", import.meta.url).href;
  const script = `
    import { Poller, sendmsg, socketpair } from ${JSON.stringify(index)};
    const [a, b] = socketpair('dgram');
    const stopped = new Poller(a);
    stopped.start(true, true, () => {});
    stopped.stop();
    const poller = new Poller(b);
    poller.start(true, false, () => { poller.close(); poller.close(); console.log('closed in callback'); });
    sendmsg(a, Buffer.from('x'));
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let stdout = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  assert.deepEqual(await once(child, "exit"), [0, null]);
  assert.equal(stdout, "closed in callback\n");
});

test("Poller refuses a second watcher on the same fd", () => {
  const [a, b] = socketpair("stream");
  const first = new Poller(a);
  first.start(true, false, () => {});
  assert.throws(() => new Poller(a), { code: "EEXIST", syscall: "uv_poll_init" });
  first.close();
  assert.throws(() => closeSync(a), { code: "EBADF" }, "close() closed the fd it owns");
  closeSync(b);
});
