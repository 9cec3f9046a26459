/**
 * bench/pty-throughput: terminal output through the master, and keystroke
 * echo, each next to a local PTY measured in the same run.
 *
 * Throughput: `control exec -t -- sh -c 'stty raw -echo; cat FILE'` with FILE
 * 100 MB of random bytes (raw mode, so the line discipline passes the bytes
 * unchanged and the counts must match exactly), with binary frames (the
 * default) and with JSON frames (OLYMPUS_BINARY_FRAMES=0). MB/s is counted
 * from the first output byte to the last, so Node's start-up and the
 * connection are left out; the total wall time is shown too. Baseline: the
 * same shell command in a local PTY read by this Node process through node-pty.
 *
 * Echo: `control exec -t -- sh -c 'stty raw -echo; cat'` inside a node-pty
 * terminal (the user's terminal); one byte is written and timed until it
 * comes back, alternating with the same on a local PTY running the same
 * command without the master.
 */
import pty from "node-pty";
import { controlBin, descendantsOf } from "../test/helpers/processes.js";
import { loadNote, main, noopApp, onCleanup, randomFile, startOlympus } from "./harness.js";
import { median, quantile, report } from "./report.js";
import { echoSamples, echoTerminal, killQuietly, rate, type Transfer, transfer } from "./streams.js";

const MEGABYTES = Number(process.env.BENCH_PTY_MB ?? 100);
const THROUGHPUT_RUNS = Number(process.env.BENCH_RUNS ?? 5);
const ECHO_SAMPLES = Number(process.env.BENCH_ECHO_SAMPLES ?? 200);
const ECHO_WARMUP = 20;
const MB = 1024 * 1024;
const TARGET = 0.8;

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
      resolve({
        bytes,
        streamMs: last - first,
        firstMs: first - began,
        wallMs: Math.max(last, exitedAt) - began,
        peakKb: {},
      });
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

await main(async () => {
  const notes = [loadNote("at start")];
  const app = noopApp("pty");
  const olympus = await startOlympus(app);

  const data = randomFile("pty-data", MEGABYTES);
  const catCommand = `stty raw -echo; cat '${data}'`;
  const watched = {
    "olympus start (master and agent)": () => [olympus.started.child.pid as number],
    control: (pid: number) => [pid, ...descendantsOf(pid)],
  };
  const throughOlympus = (binaryFrames: "1" | "0") =>
    transfer(
      process.execPath,
      [controlBin, "exec", "-t", "--", "sh", "-c", catCommand],
      { cwd: app, env: { ...process.env, OLYMPUS_BINARY_FRAMES: binaryFrames } },
      watched,
    );

  // Throughput: warm the page cache once, then alternate.
  await throughLocalPty(app, catCommand, MEGABYTES * MB);
  const binary: Transfer[] = [];
  const json: Transfer[] = [];
  const local: Transfer[] = [];
  for (let run = 0; run < THROUGHPUT_RUNS; run++) {
    binary.push(await throughOlympus("1"));
    json.push(await throughOlympus("0"));
    local.push(await throughLocalPty(app, catCommand, MEGABYTES * MB));
  }
  const expected = MEGABYTES * MB;
  const [binaryRate, jsonRate, localRate] = [binary, json, local].map((runs) => median(runs.map(rate))) as number[];
  const wall = (runs: Transfer[]) => median(runs.map((t) => t.wallMs));
  const bytesNote = (transfers: Transfer[]) =>
    transfers.every((transfer) => transfer.bytes === expected)
      ? "all"
      : transfers.map((transfer) => transfer.bytes - expected).join("/");
  const peak = (runs: Transfer[], name: string) => Math.max(...runs.map((t) => t.peakKb[name] ?? 0)) / 1024;

  // Echo: alternate one sample on each terminal.
  const echoCommand = "stty raw -echo; printf READY; exec cat";
  const remote = await echoTerminal(process.execPath, [controlBin, "exec", "-t", "--", "sh", "-c", echoCommand], app);
  const near = await echoTerminal("sh", ["-c", echoCommand], app);
  const [remoteEcho, localEcho] = (await echoSamples([remote, near], ECHO_SAMPLES, ECHO_WARMUP)) as number[][];
  await remote.close();
  await near.close();

  const p99 = (samples: number[]) => quantile(samples, 0.99);
  const rows = [
    ["output MB/s (first → last byte), median", binaryRate, jsonRate, localRate, binaryRate / localRate],
    [
      "output: wall time for the whole command, median ms",
      wall(binary),
      wall(json),
      wall(local),
      wall(binary) / wall(local),
    ],
    ["output: runs with every byte received", bytesNote(binary), bytesNote(json), bytesNote(local), ""],
    ...Object.keys(watched).map((name) => [`peak RSS MB: ${name}`, peak(binary, name), peak(json, name), "", ""]),
    ["echo round trip p50 ms", median(remoteEcho), "", median(localEcho), median(remoteEcho) / median(localEcho)],
    ["echo round trip p99 ms", p99(remoteEcho), "", p99(localEcho), p99(remoteEcho) / p99(localEcho)],
  ];
  const perRun = (runs: Transfer[]) => runs.map((t) => rate(t).toFixed(0)).join(", ");
  notes.push(
    `Output: ${MEGABYTES} MB of random bytes, ${THROUGHPUT_RUNS} runs each (alternating); per run MB/s binary ${perRun(binary)}, JSON ${perRun(json)}, local ${perRun(local)}. Echo (binary frames): ${ECHO_SAMPLES} samples each, alternating, after ${ECHO_WARMUP} warm-up.`,
    `Target: throughput ≥ ${TARGET} of the local PTY (${(binaryRate / localRate).toFixed(2)}: ${binaryRate / localRate >= TARGET ? "met" : "missed"}); binary ÷ JSON frames ${(binaryRate / jsonRate).toFixed(2)}.`,
    loadNote("at end"),
  );
  report(
    "pty-throughput",
    ["measure", "olympus, binary frames", "olympus, JSON frames", "local PTY", "ratio (binary ÷ local)"],
    rows,
    notes,
  );
});
