// Tests of the native addon's system calls (slave/native): socket pairs, fd passing
// with SCM_RIGHTS, close-on-exec, and a Python peer that passes fds the other way.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { closeSync, writeSync } from "node:fs";
import { test } from "node:test";

import {
  FdChannel,
  FdStream,
  pipe,
  readFd,
  recvmsg,
  type SocketType,
  sendmsg,
  socketpair,
  socketType,
} from "../slave/native/index.js";

import { closeAll, fdFlags, gather, LIMIT, O_CLOEXEC, O_NONBLOCK, openFdCount, readToEnd } from "./helpers/native.js";

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
