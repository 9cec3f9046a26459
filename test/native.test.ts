// Tests of the native addon (slave/native): real sockets, pipes, PTYs and
// processes, including a Python peer that passes fds the other way.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { closeSync, readdirSync, readFileSync, writeSync } from "node:fs";
import { test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";

import {
  FdChannel,
  FdStream,
  foregroundProcessGroup,
  getWindowSize,
  openpty,
  Poller,
  pipe,
  readFd,
  recvmsg,
  type SocketType,
  sendmsg,
  setWindowSize,
  socketpair,
  socketType,
  watchProcessExit,
} from "../slave/native/index.js";

/** A hang fails the test instead of stalling the run. */
const LIMIT = { timeout: 10_000 };
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;

function openFdCount(): number {
  return readdirSync("/proc/self/fd").length;
}

function fdFlags(fd: number): number {
  const match = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"));
  assert.ok(match, `no flags in /proc/self/fdinfo/${fd}`);
  return parseInt(match[1]!, 8);
}

function closeAll(fds: number[]): void {
  for (const fd of fds) closeSync(fd);
}

/** Everything a channel receives, so a test can wait for some text to show up. */
function gather(channel: FdChannel) {
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
function readToEnd(stream: FdStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on("data", (chunk) => chunks.push(chunk));
  const ended = new Promise<Buffer>((resolve, reject) => {
    stream.once("end", () => resolve(Buffer.concat(chunks)));
    stream.once("error", reject);
  });
  stream.resume();
  return ended;
}

for (const type of ["stream", "dgram"] as const) {
  test(`socketpair ${type}: an fd sent with SCM_RIGHTS arrives and works`, () => {
    const before = openFdCount();
    const [a, b] = socketpair(type);
    const [readEnd, writeEnd] = pipe();

    assert.equal(sendmsg(a, Buffer.from("take this"), [writeEnd]), 9);
    closeSync(writeEnd); // the kernel holds its own copy in flight
    const message = recvmsg(b);
    assert.ok(message);
    assert.equal(message.data.toString(), "take this");
    assert.equal(message.fds.length, 1);

    writeSync(message.fds[0]!, "through the passed fd");
    closeAll(message.fds);
    assert.equal((readFd(readEnd) as Buffer).toString(), "through the passed fd");
    assert.deepEqual(readFd(readEnd), { eof: true }, "every write end is closed");
    assert.equal(recvmsg(b), null, "nothing else is waiting");

    closeAll([a, b, readEnd]);
    assert.equal(openFdCount(), before);
  });
}

test("fds need at least one byte of data; socketType tells sockets apart", () => {
  const [a, b] = socketpair("stream");
  assert.throws(() => sendmsg(a, Buffer.alloc(0), [b]), /at least one byte/);
  const [readEnd, writeEnd] = pipe();
  assert.equal(socketType(a), "stream");
  assert.throws(() => socketType(readEnd), { code: "ENOTSOCK" });
  closeAll([a, b, readEnd, writeEnd]);
});

test("a stream peer closing is end-of-file; errors name the syscall and errno", () => {
  const [a, b] = socketpair("stream");
  closeSync(a);
  assert.deepEqual(recvmsg(b), { data: Buffer.alloc(0), fds: [], eof: true });
  assert.throws(() => sendmsg(b, Buffer.from("x")), {
    code: "EPIPE",
    syscall: "sendmsg",
    message: /^sendmsg\(fd \d+\): EPIPE/,
  });
  closeSync(b);
  assert.throws(() => recvmsg(b), { code: "EBADF", message: /^recvmsg\(fd \d+\): EBADF \(Bad file descriptor\)$/ });
});

test("received fds are close-on-exec: a spawned child does not inherit them", () => {
  const [a, b] = socketpair("stream");
  const [readEnd, writeEnd] = pipe();
  sendmsg(a, Buffer.from("x"), [readEnd]);
  const [received] = recvmsg(b)!.fds;
  assert.ok(received !== undefined);
  assert.equal(fdFlags(received) & O_CLOEXEC, O_CLOEXEC);

  const inherited = execFileSync("sh", ["-c", "ls /proc/$$/fd"], { encoding: "utf8" }).split(/\s+/);
  assert.ok(inherited.includes("0"), "the listing works");
  assert.ok(!inherited.includes(String(received)), `fd ${received} leaked into the child`);
  closeAll([a, b, readEnd, writeEnd, received]);
});

test("polling does not set O_NONBLOCK on a shared fd", () => {
  const [a, b] = socketpair("stream");
  const before = fdFlags(a);
  assert.equal(before & O_NONBLOCK, 0);
  const channel = new FdChannel(a);
  assert.equal(fdFlags(a), before);
  channel.close();
  closeSync(b);
});

test("MSG_CTRUNC: too many fds is a clear error and leaks nothing", () => {
  const before = openFdCount();
  const [a, b] = socketpair("dgram");
  const [readEnd, writeEnd] = pipe();

  const fits = Array.from({ length: 64 }, () => writeEnd);
  sendmsg(a, Buffer.from("64"), fits);
  const ok = recvmsg(b)!;
  assert.equal(ok.fds.length, 64);
  closeAll(ok.fds);

  const tooMany = Array.from({ length: 100 }, () => writeEnd);
  sendmsg(a, Buffer.from("100"), tooMany);
  assert.throws(() => recvmsg(b), {
    code: "ERR_FDS_TRUNCATED",
    message: /^recvmsg\(fd \d+\): fds truncated \(MSG_CTRUNC\).* the 64 that arrived were closed$/,
  });
  closeAll([a, b, readEnd, writeEnd]);
  assert.equal(openFdCount(), before);
});

// A worker in another language: it registers over the master socket the way
// a Zeus shim does, sending one end of a fresh socketpair with SCM_RIGHTS, and
// receives a pipe's write end from us.
const PYTHON_WORKER = `
import os, socket, sys
kind = socket.SOCK_STREAM if sys.argv[1] == "stream" else socket.SOCK_DGRAM
master = socket.socket(fileno=int(os.environ["FD"]))
local, remote = socket.socketpair(socket.AF_UNIX, kind)
socket.send_fds(master, [b"P:%d:worker\\0" % os.getpid()], [remote.fileno()])
remote.close()
local.send(b"R:OK\\0")
message, fds, _, _ = socket.recv_fds(local, 1024, 4)
os.write(fds[0], b"written by python")
os.close(fds[0])
local.send(b"got:" + message)
`;

for (const type of ["dgram", "stream"] as SocketType[]) {
  test(`interop with Python (${type}): registration socket and fds in both directions`, LIMIT, async () => {
    const [ours, theirs] = socketpair(type);
    const child = spawn("python3", ["-c", PYTHON_WORKER, type], {
      stdio: ["ignore", "inherit", "inherit", theirs],
      env: { ...process.env, FD: "3" },
    });
    const exited = once(child, "exit");
    closeSync(theirs);

    const master = new FdChannel(ours);
    const [hello, fds] = (await once(master, "data")) as [Buffer, number[]];
    assert.equal(hello.toString(), `P:${child.pid}:worker\0`);
    assert.equal(fds.length, 1);

    assert.equal(socketType(fds[0]!), type);
    const worker = new FdChannel(fds[0]!);
    const inbox = gather(worker);
    await inbox.untilText("R:OK\0");
    const [readEnd, writeEnd] = pipe();
    assert.equal(worker.send(Buffer.from("S:child\0"), [writeEnd]), true);
    closeSync(writeEnd);
    await inbox.untilText("got:S:child\0");
    assert.equal(inbox.text(), "R:OK\0got:S:child\0");

    assert.equal((await readToEnd(new FdStream(readEnd))).toString(), "written by python");
    assert.deepEqual(await exited, [0, null]);
    worker.close();
    master.close();
  });
}

test("no fd leaks over 1,000 full handshakes", LIMIT, async () => {
  const before = openFdCount();
  for (let i = 0; i < 1000; i++) {
    const [agentEnd, workerEnd] = socketpair("stream");
    const [local, remote] = socketpair(i % 2 === 0 ? "dgram" : "stream");
    const master = new FdChannel(agentEnd);
    const registered = once(master, "data");
    sendmsg(workerEnd, Buffer.from(`P:${i}:node\0`), [remote]);
    closeSync(remote);
    const [, fds] = (await registered) as [Buffer, number[]];

    const worker = new FdChannel(fds[0]!);
    const replied = once(worker, "data");
    sendmsg(local, Buffer.from("R:OK\0"));
    assert.equal(String((await replied)[0]), "R:OK\0");
    assert.equal(worker.send(Buffer.from("S:x\0")), true);
    assert.equal(recvmsg(local)!.data.toString(), "S:x\0");

    worker.close();
    master.close();
    closeAll([workerEnd, local]);
  }
  assert.equal(openFdCount(), before);
});

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
