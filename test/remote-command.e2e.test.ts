import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { OlympusClient, resolveMaster } from "../control/client/client.js";
import type { Target } from "../control/client/remote-command.js";
import { controlIn, makeApp, nodes, startLocal, waitForStates, writeApp } from "./helpers/app.js";
import { control, controlBytesIn, slaveLostLines, startMaster, TEST_TOKEN } from "./helpers/cluster.js";
import {
  argvOf,
  controlBin,
  descendantsOf,
  eventually,
  isAlive,
  olympusBin,
  type Started,
  start,
  startNode,
  stopAll,
} from "./helpers/processes.js";
import { keepingSink } from "./helpers/sink.js";
import { controlInTerminal, inTerminal } from "./helpers/terminal.js";

after(stopAll);

const plan = [
  "import os, sys, time",
  "import work_lib",
  "def boot(): pass",
  "def work(): import work_lib",
  "def cat():",
  "    while True:",
  "        chunk = sys.stdin.buffer.read1(65536)",
  "        if not chunk: break",
  "        sys.stdout.buffer.write(chunk); sys.stdout.buffer.flush()",
  "def emit():",
  "    size = int(sys.argv[1]); line = b'abcdefghijklmnopqrstuvwxyz' * 2520",
  "    while size > 0:",
  "        sys.stdout.buffer.write(line[:size]); size -= len(line)",
  "    sys.stdout.buffer.flush()",
  "def sleepy():",
  "    print('sleeping', flush=True); time.sleep(float(sys.argv[1])); print('slept', flush=True)",
  "def die():",
  "    print('dying', flush=True)",
  "    while len(sys.argv) > 2 and not os.path.exists(sys.argv[2]): time.sleep(0.05)",
  "    os.kill(os.getpid(), int(sys.argv[1]))",
  "def bail(): os._exit(int(sys.argv[1]))",
  "",
].join("\n");

function pythonApp(extra: Record<string, string> = {}): string {
  return makeApp({
    "zeus.json": JSON.stringify({
      command: "python3 -m olympus_zeus plan",
      plan: { boot: { work: { cat: [], emit: [], sleepy: ["s"], die: [], bail: [] } } },
    }),
    "plan.py": plan,
    "work_lib.py": "VERSION = 1\n",
    ...extra,
  });
}

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

describe("commands on one slave", () => {
  const app = pythonApp();
  let agent: Started;
  before(async () => {
    // A short session timeout: a killed control is told apart from a dropped one only by not coming back.
    agent = await startLocal(app, ["--session-timeout", "1000"]);
    await waitForStates(app, { boot: "ready", work: "ready" });
  });

  describe("in a real terminal", () => {
    it("sees the window size at start and after a resize", async () => {
      // The remote shell prints its size on SIGWINCH, which only a resize of its PTY sends.
      const script = `trap 'stty size; [ "$(stty size)" = "40 120" ] && exit 0' WINCH; stty size; while :; do sleep 1 & wait; done`;
      const run = controlInTerminal(["exec", "--", "sh", "-c", script], { cwd: app, cols: 100, rows: 30 });
      await run.waitFor(/30 100/);
      run.resize(120, 40);
      await run.waitFor(/40 120/);
      assert.equal((await run.exited).exitCode, 0);
    });

    it("puts the local terminal in raw mode while it runs, and restores it after", async () => {
      // Looks at the terminal once control has made it raw (-opost is its last step), then ends the remote command with a line of input.
      const control = `node ${controlBin} exec -- sh -c 'read line' </dev/tty &`;
      const script = `stty -g; ${control} while ! stty -a | grep -q -- -opost; do sleep 0.05; done; stty -a; echo changed; wait; stty -g`;
      const run = inTerminal("/bin/sh", ["-c", script], { cwd: app });
      await run.waitFor(/^changed\r?$/m);
      run.write("\r");
      assert.equal((await run.exited).exitCode, 0);
      const settings = [...run.output().matchAll(/[0-9a-f]+(?::[0-9a-f]+){10,}/g)].map((match) => match[0]);
      assert.equal(settings.length, 2, run.output());
      assert.equal(settings[0], settings[1], "terminal settings restored");
      assert.match(run.output(), /-icanon/);
      assert.match(run.output(), /-echo\b/);
      assert.match(run.output(), /-opost/);
    });

    it("ends a remote command with ^C, exit 130, for exec and for a forked plan command", async () => {
      for (const args of [
        ["exec", "--", "sh", "-c", "echo sleeping; exec sleep 30"],
        ["run", "sleepy", "30"],
      ]) {
        const run = controlInTerminal(args, { cwd: app });
        await run.waitFor(/sleeping/);
        run.write("\x03");
        assert.equal((await run.exited).exitCode, 130, run.output());
      }
    });

    it("exits with the command's code: 0, 3, and 143 for SIGTERM", async () => {
      const cases: [string[], number][] = [
        [["exec", "--", "true"], 0],
        [["exec", "--", "sh", "-c", "exit 3"], 3],
        [["exec", "--", "sh", "-c", "kill -TERM $$"], 143],
      ];
      for (const [args, code] of cases)
        assert.equal((await controlInTerminal(args, { cwd: app }).exited).exitCode, code, args.join(" "));
    });

    it("forwards SIGTERM sent to control to the remote command", async () => {
      const run = controlInTerminal(["exec", "--", "sh", "-c", "echo started; exec sleep 30"], { cwd: app });
      await run.waitFor(/started/);
      run.kill("SIGTERM");
      assert.equal((await run.exited).exitCode, 143);
    });
  });

  describe("with pipes", () => {
    it("keeps stdout and stderr apart and forwards stdin to its end", async () => {
      const result = await controlIn(app, ["exec", "--", "sh", "-c", "echo out; echo err >&2; exit 4"]);
      assert.deepEqual([result.code, result.stdout, result.stderr], [4, "out\n", "err\n"]);
    });

    it("carries 20 MB byte-exact both ways through exec cat and through run cat", async () => {
      const input = join(app, "random.bin");
      writeFileSync(input, randomBytes(20 * 1024 * 1024));
      const expected = sha256(readFileSync(input));
      for (const args of [
        ["exec", "-T", "--", "cat"],
        ["run", "-T", "cat"],
      ]) {
        const result = await controlBytesIn(app, args, input);
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout.length, 20 * 1024 * 1024, args.join(" "));
        assert.equal(sha256(result.stdout), expected, args.join(" "));
      }
    });
  });

  it("loses no tail: 200 runs of 64 KB and 30 runs of 2 MB through a PTY", async () => {
    // Through the client library, so the test measures the transport, not 230 Node start-ups.
    const client = await OlympusClient.connect(resolveMaster({}, app));
    const slave = (await client.listSlaves())[0]?.name as string;
    const file = join(app, "64k.bin");
    writeFileSync(file, randomBytes(64 * 1024));
    const expected = sha256(readFileSync(file));
    const collect = async (target: Target) => {
      const { sink, output } = keepingSink();
      const command = client.command(slave, { stdout: sink, stderr: sink });
      await command.start(target, { cols: 80, rows: 24 });
      const outcome = await command.outcome;
      return { outcome, output: output() };
    };
    const failures: string[] = [];
    const small: Target = { kind: "exec", program: "sh", args: ["-c", `stty raw -echo; cat ${file}`] };
    for (let index = 0; index < 200; index += 4) {
      const results = await Promise.all([0, 1, 2, 3].map(() => collect(small)));
      for (const { outcome, output } of results) {
        if (!("code" in outcome) || outcome.code !== 0 || sha256(output) !== expected)
          failures.push(`64 KB: ${JSON.stringify(outcome)}, ${output.length} bytes`);
      }
    }
    for (let index = 0; index < 30; index++) {
      const { outcome, output } = await collect({ kind: "run", command: "emit", args: [String(2 * 1024 * 1024)] });
      if (!("code" in outcome) || outcome.code !== 0 || output.length !== 2 * 1024 * 1024)
        failures.push(`2 MB: ${JSON.stringify(outcome)}, ${output.length} bytes`);
    }
    client.close();
    assert.deepEqual(failures, []);
  });

  for (const [frames, binaryFrames] of [
    ["binary frames", "1"],
    ["JSON frames", "0"],
  ] as const)
    it(`blocks a command whose control is stopped, in bounded memory, and delivers every byte after SIGCONT (${frames})`, async (t) => {
      const size = 100 * 1000 * 1000;
      const child = spawn(process.execPath, [controlBin, "exec", "-T", "--", "head", "-c", String(size), "/dev/zero"], {
        cwd: app,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, OLYMPUS_BINARY_FRAMES: binaryFrames },
      });
      let received = 0;
      child.stdout.on("data", (chunk: Buffer) => (received += chunk.length));
      await eventually(() => received > 0, 10_000, "first output");
      const argv = ["head", "-c", String(size), "/dev/zero"];
      const writer = descendantsOf(agent.child.pid as number).find((pid) => argvOf(pid)?.join(" ") === argv.join(" "));
      assert.ok(writer !== undefined, "the remote head runs below the agent");
      child.kill("SIGSTOP");
      const rssBefore = residentKb(agent.child.pid as number);
      let peak = rssBefore;
      // Blocked: head has written nothing more for half a second (ten samples in a row).
      let written = -1;
      let still = 0;
      await eventually(
        () => {
          peak = Math.max(peak, residentKb(agent.child.pid as number));
          const now = bytesWritten(writer);
          still = now === written ? still + 1 : 0;
          written = now;
          return still >= 10 || !isAlive(writer);
        },
        30_000,
        "the remote writer to stop writing",
      );
      const writerStillBlocked = isAlive(writer);
      child.kill("SIGCONT");
      const code = await new Promise((resolve) => child.on("close", resolve));
      t.diagnostic(
        `master+agent RSS: ${rssBefore} kB before, ${peak} kB peak while the control was stopped; head blocked after ${written} bytes`,
      );
      assert.ok(writerStillBlocked, "the remote writer was blocked, not finished");
      assert.ok(written < size, `head wrote ${written} of ${size} bytes`);
      assert.ok(peak - rssBefore < 64 * 1024, `RSS grew by ${peak - rssBefore} kB`);
      assert.equal(code, 0);
      assert.equal(received, size);
    });

  it("hangs up and reaps a command whose control is killed", async () => {
    const child = spawn(process.execPath, [controlBin, "exec", "-T", "--", "sh", "-c", "echo $$; exec sleep 60"], {
      cwd: app,
      stdio: ["ignore", "pipe", "ignore"],
    });
    const pid = await new Promise<number>((resolve) =>
      child.stdout.once("data", (chunk: Buffer) => resolve(Number(chunk.toString().trim()))),
    );
    child.kill("SIGKILL");
    await eventually(() => !isAlive(pid), 3000, `remote pid ${pid} to be gone`);
  });

  it("delivers output written after the command's exit while the agent's loop stalled past the drain wait", async () => {
    // The shell exits at once; a background child keeps its stdout and writes once the agent is stopped.
    const [go, written, shell] = ["stall.go", "stall.written", "stall.pid"].map((name) => join(app, name));
    const script = `echo $$ > ${shell}; (while [ ! -e ${go} ]; do sleep 0.02; done; head -c 30000 /dev/zero | tr '\\0' x; touch ${written}) & exit 3`;
    const child = spawn(process.execPath, [controlBin, "exec", "-T", "--", "sh", "-c", script], {
      cwd: app,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const closed = new Promise((resolve) => child.on("close", resolve));
    await eventually(() => existsSync(shell) && readFileSync(shell, "utf8").endsWith("\n"), 10_000, "the shell's pid");
    const pid = Number(readFileSync(shell, "utf8"));
    await eventually(() => !existsSync(`/proc/${pid}`), 10_000, "the shell reaped by the agent");
    const agentPid = agent.child.pid as number;
    process.kill(agentPid, "SIGSTOP");
    try {
      writeFileSync(go, "");
      await eventually(() => existsSync(written), 10_000, "the background child's output");
      await delay(800); // the stall itself: longer than the agent's 500 ms drain wait
    } finally {
      process.kill(agentPid, "SIGCONT");
    }
    assert.equal(await closed, 3);
    assert.equal(output.length, 30000, "every byte the background child wrote");
    assert.match(output, /^x+$/);
  });

  it("keeps a running command alive when its node restarts", async () => {
    const before = (await waitForStates(app, { work: "ready" })).get("work")?.pid;
    const running = start(process.execPath, [controlBin, "run", "-T", "cat"], {
      cwd: app,
      stdio: ["pipe", "pipe", "pipe"],
    });
    running.child.stdin?.write("before\n");
    await running.waitFor(/before/);
    writeApp(app, "work_lib.py", "VERSION = 2\n");
    await eventually(
      async () => {
        const work = (await nodes(app)).get("work");
        return work?.state === "ready" && work.pid !== before;
      },
      15_000,
      "work to restart with a new pid",
    );
    running.child.stdin?.end("after\n");
    assert.equal((await running.exited).code, 0, running.output);
    assert.equal(running.output, "before\nafter\n");
  });

  it("tells how a forked command ended that reported no code: a signal, os._exit, after its node restarted", async () => {
    for (const [args, code] of [
      [["run", "die", "9"], 137],
      [["run", "die", "15"], 143],
      [["run", "bail", "5"], 5],
    ] as const) {
      const result = await controlIn(app, [...args]);
      assert.equal(result.code, code, `${args.join(" ")}: ${result.stderr}`);
    }
    // Its node gone, the command's parent is another process, which may or may not reap it.
    const before = (await waitForStates(app, { work: "ready" })).get("work")?.pid;
    const go = join(app, "die-now");
    const running = start(process.execPath, [controlBin, "run", "-T", "die", "9", go], { cwd: app });
    await running.waitFor(/dying/);
    writeApp(app, "work_lib.py", "VERSION = 3\n");
    await eventually(async () => (await nodes(app)).get("work")?.pid !== before, 15_000, "work to restart");
    writeFileSync(go, "");
    assert.equal((await running.exited).code, 137, running.output);
  });

  it("prints a crashed node's report and exits 1", async () => {
    writeApp(app, "work_lib.py", "VERSION = (\n");
    // The plan module imports work_lib, so the root crashes and `work` waits for it.
    await waitForStates(app, { boot: "crashed", work: "waiting" });
    const result = await controlIn(app, ["run", "emit", "10"]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /phase boot crashed:\n(.|\n)*SyntaxError/);
    writeApp(app, "work_lib.py", "VERSION = 3\n");
    await waitForStates(app, { work: "ready" });
  });
});

describe("commands across slaves", () => {
  let url: string;
  const apps = [pythonApp({ "code.txt": "0\n" }), pythonApp({ "code.txt": "5\n" })];
  const slaves: Started[] = [];
  before(async () => {
    ({ url } = await startMaster(["--session-timeout", "1000"]));
    for (const [index, app] of apps.entries()) {
      const slave = startNode(olympusBin, [
        "slave",
        "--master",
        url,
        "--name",
        `s${index + 1}`,
        "--token",
        TEST_TOKEN,
        "--config",
        join(app, "zeus.json"),
      ]);
      await slave.waitFor(/connected to/);
      slaves.push(slave);
    }
  });

  it("asks which slave when several are connected", async () => {
    const result = await control(url, ["run", "emit", "3"]);
    assert.equal(result.code, 1);
    assert.equal(result.stderr, "control: 2 slaves are connected (s1, s2): choose with --slave NAME or use --all\n");
  });

  it("fans out with prefixed lines, a summary, and the first non-zero code", async () => {
    const result = await control(url, ["exec", "--all", "--", "sh", "-c", "echo hello; exit $(cat code.txt)"]);
    assert.equal(result.code, 5);
    assert.deepEqual(result.stdout.split("\n").filter(Boolean).sort(), ["s1 | hello", "s2 | hello"]);
    assert.match(result.stderr, /^exit codes: s1 0, s2 5\n$/);
  });

  it("ends with one line and exit 1 when the slave vanishes mid-command", async () => {
    const flags = ["--master", url, "--token", TEST_TOKEN];
    const running = startNode(controlBin, [
      ...flags,
      "exec",
      "--slave",
      "s2",
      "--",
      "sh",
      "-c",
      "echo started; exec sleep 30",
    ]);
    await running.waitFor(/started/); // the command runs on s2, so only its slave's loss can end it
    await (slaves[1] as Started).kill("SIGKILL");
    assert.equal((await running.exited).code, 1);
    assert.equal(running.output, ["started", ...slaveLostLines("s2", 1), ""].join("\n"));
  });
});

function residentKb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1]);
}

/** Bytes a process has written so far, by /proc's count. */
function bytesWritten(pid: number): number {
  try {
    return Number(/^wchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, "utf8"))?.[1]);
  } catch {
    return -1; // gone
  }
}
