/**
 * bench/pty-throughput: terminal output through the master, and keystroke
 * echo, each next to a local PTY measured in the same run.
 *
 * Throughput: `control exec -t -- sh -c 'stty raw -echo; cat FILE'` with FILE
 * 100 MB of random bytes (raw mode, so the line discipline passes the bytes
 * unchanged and the counts must match exactly). MB/s is counted from the
 * first output byte to the last, so Node's start-up and the connection are
 * left out; the total wall time is shown too. Baseline: the same shell command
 * in a local PTY read by this Node process through node-pty.
 *
 * Echo: `control exec -t -- sh -c 'stty raw -echo; cat'` inside a node-pty
 * terminal (the user's terminal); one byte is written and timed until it
 * comes back, alternating with the same on a local PTY running the same
 * command without the master.
 */
import { randomBytes } from "node:crypto";
import { closeSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import pty from "node-pty";
import { controlBin, start } from "../test/helpers/processes.js";
import { loadNote, main, onCleanup, pythonApp, startOlympus, tempDir } from "./harness.js";
import { median, quantile, report } from "./report.js";

const MEGABYTES = Number(process.env.BENCH_PTY_MB ?? 100);
const THROUGHPUT_RUNS = Number(process.env.BENCH_RUNS ?? 5);
const ECHO_SAMPLES = Number(process.env.BENCH_ECHO_SAMPLES ?? 200);
const ECHO_WARMUP = 20;
const MB = 1024 * 1024;

interface Transfer {
  bytes: number;
  /** First byte to last byte, ms. */
  streamMs: number;
  /** Start to exit, ms. */
  wallMs: number;
}

/** `control exec -t` with its stdout a pipe to us; counts bytes. */
function throughOlympus(app: string, command: string): Promise<Transfer> {
  return new Promise((resolve, reject) => {
    const began = performance.now();
    const { child } = start(process.execPath, [controlBin, "exec", "-t", "--", "sh", "-c", command], {
      cwd: app,
      keepOutput: false,
    });
    let bytes = 0;
    let first = 0;
    let last = 0;
    let stderr = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      last = performance.now();
      if (bytes === 0) first = last;
      bytes += chunk.length;
    });
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.once("error", reject);
    child.once("close", (code) => {
      if (code !== 0) return reject(new Error(`control exec exited ${code}: ${stderr}`));
      resolve({ bytes, streamMs: last - first, wallMs: performance.now() - began });
    });
  });
}

/** After the exit, how long the local PTY may stay quiet before its output counts as complete. */
const LOCAL_TAIL_MS = 200;

/**
 * The same command in a local PTY, read here through node-pty as raw bytes.
 * node-pty reports the exit before it has read the last output, so the
 * transfer ends when every byte has come, or the PTY has been quiet for a
 * while after the exit.
 */
function throughLocalPty(cwd: string, command: string, expectedBytes: number): Promise<Transfer> {
  return new Promise((resolve) => {
    const began = performance.now();
    const terminal = pty.spawn("sh", ["-c", command], {
      cols: 80,
      rows: 24,
      cwd,
      encoding: null,
    } as pty.IPtyForkOptions);
    onCleanup(() => killQuietly(terminal.pid));
    let bytes = 0;
    let first = 0;
    let last = 0;
    let exitedAt = 0;
    let tailTimer: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(tailTimer);
      resolve({ bytes, streamMs: last - first, wallMs: Math.max(last, exitedAt) - began });
    };
    const awaitTail = () => {
      clearTimeout(tailTimer);
      if (bytes >= expectedBytes) finish();
      else tailTimer = setTimeout(finish, LOCAL_TAIL_MS);
    };
    terminal.onData((chunk: string | Buffer) => {
      last = performance.now();
      if (bytes === 0) first = last;
      bytes += chunk.length;
      if (exitedAt > 0) awaitTail();
    });
    terminal.onExit(() => {
      exitedAt = performance.now();
      awaitTail();
    });
  });
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/** A terminal whose round trip for one byte can be timed. */
interface EchoTerminal {
  roundTrip(byte: string): Promise<number>;
  close(): Promise<void>;
}

async function echoTerminal(file: string, args: string[], cwd: string): Promise<EchoTerminal> {
  const terminal = pty.spawn(file, args, { cols: 80, rows: 24, cwd, env: process.env as Record<string, string> });
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    terminal.onExit(() => {
      exited = true;
      resolve();
    }),
  );
  onCleanup(() => {
    if (!exited) killQuietly(terminal.pid);
  });
  let output = "";
  let wake = () => {};
  terminal.onData((data) => {
    output += data;
    wake();
  });
  const waitFor = (test: () => boolean, what: string) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `${file} ${args.join(" ")}: no ${what} within 10 s; output ${JSON.stringify(output.slice(-200))}`,
            ),
          ),
        10_000,
      );
      wake = () => {
        if (!test()) return;
        clearTimeout(timer);
        wake = () => {};
        resolve();
      };
      wake();
    });
  await waitFor(() => output.includes("READY"), "READY");
  return {
    async roundTrip(byte: string): Promise<number> {
      output = "";
      const began = performance.now();
      terminal.write(byte);
      await waitFor(() => output.includes(byte), `echo of ${JSON.stringify(byte)}`);
      return performance.now() - began;
    },
    async close(): Promise<void> {
      // control forwards SIGTERM to the remote command; the local shell gets it directly.
      if (!exited) process.kill(terminal.pid, "SIGTERM");
      const timer = setTimeout(() => killQuietly(terminal.pid), 3000);
      await exit;
      clearTimeout(timer);
    },
  };
}

await main(async () => {
  const notes = [loadNote("at start")];
  const app = pythonApp(
    "pty",
    { boot: { noop: [] } },
    { "plan.py": "def boot():\n    pass\n\ndef noop():\n    pass\n" },
  );
  await startOlympus(app);

  const data = join(tempDir("pty-data"), "random.bin");
  const fd = openSync(data, "w");
  for (let written = 0; written < MEGABYTES * MB; written += MB) writeSync(fd, randomBytes(MB));
  closeSync(fd);
  const catCommand = `stty raw -echo; cat '${data}'`;

  // Throughput: warm the page cache once, then alternate.
  await throughLocalPty(app, catCommand, MEGABYTES * MB);
  const ours: Transfer[] = [];
  const local: Transfer[] = [];
  for (let run = 0; run < THROUGHPUT_RUNS; run++) {
    ours.push(await throughOlympus(app, catCommand));
    local.push(await throughLocalPty(app, catCommand, MEGABYTES * MB));
  }
  const expected = MEGABYTES * MB;
  const rate = (transfer: Transfer) => transfer.bytes / MB / (transfer.streamMs / 1000);
  const oursRate = median(ours.map(rate));
  const localRate = median(local.map(rate));
  const bytesNote = (transfers: Transfer[]) =>
    transfers.every((transfer) => transfer.bytes === expected)
      ? "all"
      : transfers.map((transfer) => transfer.bytes - expected).join("/");

  // Echo: alternate one sample on each terminal.
  const echoCommand = "stty raw -echo; printf READY; exec cat";
  const remote = await echoTerminal(process.execPath, [controlBin, "exec", "-t", "--", "sh", "-c", echoCommand], app);
  const near = await echoTerminal("sh", ["-c", echoCommand], app);
  const remoteEcho: number[] = [];
  const localEcho: number[] = [];
  for (let i = 0; i < ECHO_WARMUP + ECHO_SAMPLES; i++) {
    const byte = String.fromCharCode(97 + (i % 26));
    const a = await remote.roundTrip(byte);
    const b = await near.roundTrip(byte);
    if (i >= ECHO_WARMUP) {
      remoteEcho.push(a);
      localEcho.push(b);
    }
    await sleep(2);
  }
  await remote.close();
  await near.close();

  const rows = [
    ["output MB/s (first → last byte), median", oursRate, localRate, oursRate / localRate],
    [
      "output: wall time for the whole command, median ms",
      median(ours.map((t) => t.wallMs)),
      median(local.map((t) => t.wallMs)),
      median(ours.map((t) => t.wallMs)) / median(local.map((t) => t.wallMs)),
    ],
    ["output: runs with every byte received", bytesNote(ours), bytesNote(local), ""],
    ["echo round trip p50 ms", median(remoteEcho), median(localEcho), median(remoteEcho) / median(localEcho)],
    [
      "echo round trip p99 ms",
      quantile(remoteEcho, 0.99),
      quantile(localEcho, 0.99),
      quantile(remoteEcho, 0.99) / quantile(localEcho, 0.99),
    ],
  ];
  notes.push(
    `Output: ${MEGABYTES} MB of random bytes, ${THROUGHPUT_RUNS} runs each (alternating); per run MB/s olympus ${ours.map((t) => rate(t).toFixed(0)).join(", ")}, local ${local.map((t) => rate(t).toFixed(0)).join(", ")}. Echo: ${ECHO_SAMPLES} samples each, alternating, after ${ECHO_WARMUP} warm-up.`,
    `Target: throughput ≥ 0.6 of the local PTY (${(oursRate / localRate).toFixed(2)}: ${oursRate / localRate >= 0.6 ? "met" : "missed"}).`,
    loadNote("at end"),
  );
  report("pty-throughput", ["measure", "olympus (control exec -t)", "local PTY", "ratio"], rows, notes);
});
