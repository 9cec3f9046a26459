/**
 * bench/vs-ssh: Olympus against what a user would pick instead, `ssh host
 * cmd`, both on loopback, measured alternately in one run.
 *
 * A private `sshd` (Debian's openssh-server) runs as a non-daemon child on a
 * free loopback port, with a host key and a user key made in a temp
 * directory; it is killed at the end. Without /usr/sbin/sshd the benchmark
 * says so and skips.
 *
 * - Pipe: `control exec -T -- cat FILE` against `ssh host cat FILE`, FILE
 *   being 100 MB of random bytes; MB/s from the first byte to the last, and
 *   the whole command's wall time.
 * - Terminal: `control exec -t` against `ssh -tt`, each of
 *   `sh -c 'stty raw -echo; cat FILE'`, stdout a pipe to this process.
 * - Echo: one keystroke's round trip through `control exec -t` and `ssh -tt`
 *   of `sh -c 'stty raw -echo; exec cat'`, each inside a node-pty terminal.
 * - `control exec -- true` (and `control run` of a plan command) against
 *   `ssh host true` over a warm multiplexed connection (ControlMaster), as
 *   whole processes.
 *
 * Peak resident memory of each process on the way is sampled during the
 * throughput runs.
 */

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { controlBin, descendantsOf, eventually, start } from "../test/helpers/processes.js";
import { loadNote, main, noopApp, onCleanup, randomFile, startOlympus, tempDir, timed } from "./harness.js";
import { median, quantile, report } from "./report.js";
import { echoSamples, echoTerminal, killQuietly, rate, type Transfer, transfer, type Watched } from "./streams.js";

const SSHD = "/usr/sbin/sshd";
const MEGABYTES = Number(process.env.BENCH_SSH_MB ?? 100);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const ECHO_SAMPLES = Number(process.env.BENCH_ECHO_SAMPLES ?? 200);
const LATENCY_RUNS = Number(process.env.BENCH_LATENCY_RUNS ?? 20);
const ECHO_WARMUP = 20;
const MB = 1024 * 1024;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function run(file: string, args: string[]): Promise<void> {
  const result = await timed(file, args, { cwd: "/" });
  if (result.code !== 0) throw new Error(`${file} ${args.join(" ")} exited ${result.code}: ${result.output}`);
}

/** A private sshd on a free loopback port; resolves with the ssh arguments that reach it. */
async function startSshd(notes: string[]): Promise<{ ssh: string[]; pid: number; dir: string }> {
  const dir = tempDir("sshd");
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "host_key")]);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "user_key")]);
  writeFileSync(join(dir, "authorized_keys"), readFileSync(join(dir, "user_key.pub")), { mode: 0o600 });
  const port = await freePort();
  writeFileSync(
    join(dir, "sshd_config"),
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${join(dir, "host_key")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "PidFile none",
      "UsePAM no",
      "StrictModes no",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "",
    ].join("\n"),
  );
  // sshd running as root wants its privilege separation directory, which only a running service creates.
  if (process.getuid?.() === 0 && !existsSync("/run/sshd")) {
    mkdirSync("/run/sshd", { mode: 0o755 });
    notes.push("Created /run/sshd (sshd's privilege separation directory; the service was never started here).");
  }
  const sshd = start(SSHD, ["-D", "-e", "-f", join(dir, "sshd_config")]);
  await sshd.waitFor(/Server listening/, 10_000).catch(() => {
    throw new Error(`sshd did not start: ${sshd.output.trim()}`);
  });
  // Its session processes end with their connections; any left at the end go with it (sshd itself is stopped with the rest).
  onCleanup(() => {
    for (const pid of descendantsOf(sshd.child.pid as number)) killQuietly(pid);
  });
  const ssh = [
    "-i",
    join(dir, "user_key"),
    "-p",
    String(port),
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "BatchMode=yes",
    "-o",
    "LogLevel=ERROR",
  ];
  return { ssh, pid: sshd.child.pid as number, dir };
}

/** The processes named `comm` among these. */
function named(pids: number[], comm: string): number[] {
  return pids.filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, "utf8").trim() === comm;
    } catch {
      return false;
    }
  });
}

await main(async () => {
  const notes = [loadNote("at start")];
  if (!existsSync(SSHD)) {
    console.log(`bench/vs-ssh: skipped: ${SSHD} is not installed (Debian's openssh-server).`);
    return;
  }
  const sshd = await startSshd(notes);
  const host = "127.0.0.1";
  const mux = ["-o", `ControlPath=${join(sshd.dir, "mux")}`];
  start("ssh", [...sshd.ssh, ...mux, "-o", "ControlMaster=yes", "-N", host]);
  await eventually(() => existsSync(join(sshd.dir, "mux")), 10_000, "the ssh ControlMaster socket");

  const app = noopApp("vs-ssh");
  const olympus = await startOlympus(app);
  const data = randomFile("vs-ssh-data", MEGABYTES);

  const olympusWatched: Watched = {
    "olympus start (master and agent)": () => [olympus.started.child.pid as number],
    control: (pid) => [pid, ...descendantsOf(pid)],
  };
  const sshWatched: Watched = {
    "sshd (listener and session)": () => named([sshd.pid, ...descendantsOf(sshd.pid)], "sshd"),
    ssh: (pid) => [pid],
  };
  const rawCat = `stty raw -echo; cat '${data}'`;
  const modes = {
    pipe: {
      olympus: [controlBin, "exec", "-T", "--", "cat", data],
      ssh: [...sshd.ssh, host, "cat", data],
    },
    terminal: {
      olympus: [controlBin, "exec", "-t", "--", "sh", "-c", rawCat],
      ssh: [...sshd.ssh, "-tt", host, `sh -c "${rawCat}"`],
    },
  };
  const results = {
    pipe: { olympus: [] as Transfer[], ssh: [] as Transfer[] },
    terminal: { olympus: [] as Transfer[], ssh: [] as Transfer[] },
  };
  await transfer("cat", [data], { cwd: app }); // the page cache
  for (let index = 0; index < RUNS; index++) {
    for (const mode of ["pipe", "terminal"] as const) {
      results[mode].olympus.push(await transfer(process.execPath, modes[mode].olympus, { cwd: app }, olympusWatched));
      results[mode].ssh.push(await transfer("ssh", modes[mode].ssh, { cwd: app }, sshWatched));
    }
  }

  const echoCommand = "stty raw -echo; printf READY; exec cat";
  const throughOlympus = await echoTerminal(
    process.execPath,
    [controlBin, "exec", "-t", "--", "sh", "-c", echoCommand],
    app,
  );
  const throughSsh = await echoTerminal("ssh", [...sshd.ssh, "-tt", host, `sh -c '${echoCommand}'`], app);
  const [olympusEcho, sshEcho] = (await echoSamples(
    [throughOlympus, throughSsh],
    ECHO_SAMPLES,
    ECHO_WARMUP,
  )) as number[][];
  await throughOlympus.close();
  await throughSsh.close();

  const latency = { exec: [] as number[], run: [] as number[], ssh: [] as number[] };
  for (let index = 0; index < LATENCY_RUNS + 2; index++) {
    const exec = await timed(process.execPath, [controlBin, "exec", "--", "true"], { cwd: app });
    const runNoop = await timed(process.execPath, [controlBin, "run", "noop"], { cwd: app });
    const ssh = await timed("ssh", [...sshd.ssh, ...mux, host, "true"], { cwd: app });
    for (const result of [exec, runNoop, ssh])
      if (result.code !== 0) throw new Error(`exited ${result.code}: ${result.output}`);
    if (index < 2) continue; // warm-up
    latency.exec.push(exec.ms);
    latency.run.push(runNoop.ms);
    latency.ssh.push(ssh.ms);
  }

  const expected = MEGABYTES * MB;
  const rows: (string | number)[][] = [];
  const ratios: Record<string, number> = {};
  for (const mode of ["pipe", "terminal"] as const) {
    const { olympus: ours, ssh } = results[mode];
    const oursRate = median(ours.map(rate));
    const sshRate = median(ssh.map(rate));
    const wall = (runs: Transfer[]) => median(runs.map((t) => t.wallMs));
    ratios[mode] = oursRate / sshRate;
    const complete = (runs: Transfer[]) =>
      runs.every((t) => t.bytes === expected) ? "all" : runs.map((t) => t.bytes).join("/");
    rows.push(
      [`${mode}: MB/s (first → last byte), median`, oursRate, sshRate, oursRate / sshRate],
      [`${mode}: whole command, median ms`, wall(ours), wall(ssh), wall(ours) / wall(ssh)],
      [`${mode}: runs with every byte received`, complete(ours), complete(ssh), ""],
    );
  }
  const peak = (side: "olympus" | "ssh", name: string) =>
    Math.max(...[...results.pipe[side], ...results.terminal[side]].map((t) => t.peakKb[name] ?? 0)) / 1024;
  for (const name of Object.keys(olympusWatched)) rows.push([`peak RSS MB: ${name}`, peak("olympus", name), "", ""]);
  for (const name of Object.keys(sshWatched)) rows.push([`peak RSS MB: ${name}`, "", peak("ssh", name), ""]);
  const p99 = (samples: number[]) => quantile(samples, 0.99);
  rows.push(
    ["echo round trip p50 ms", median(olympusEcho), median(sshEcho), median(olympusEcho) / median(sshEcho)],
    ["echo round trip p99 ms", p99(olympusEcho), p99(sshEcho), p99(olympusEcho) / p99(sshEcho)],
    [
      "`control exec -- true` / `ssh host true` (ControlMaster), median ms",
      median(latency.exec),
      median(latency.ssh),
      median(latency.exec) / median(latency.ssh),
    ],
    [
      "`control run noop` / `ssh host true` (ControlMaster), median ms",
      median(latency.run),
      median(latency.ssh),
      median(latency.run) / median(latency.ssh),
    ],
  );
  const perRun = (runs: Transfer[]) => runs.map((t) => rate(t).toFixed(0)).join(", ");
  const echoRatio = median(olympusEcho) / median(sshEcho);
  const verdict = (met: boolean) => (met ? "met" : "missed");
  notes.push(
    `${MEGABYTES} MB of random bytes, ${RUNS} runs of each mode and side, alternating; per run MB/s: pipe olympus ${perRun(results.pipe.olympus)}, ssh ${perRun(results.pipe.ssh)}; terminal olympus ${perRun(results.terminal.olympus)}, ssh ${perRun(results.terminal.ssh)}. Echo: ${ECHO_SAMPLES} samples each after ${ECHO_WARMUP} warm-up, alternating. \`true\`: ${LATENCY_RUNS} runs each after 2 warm-up, interleaved.`,
    `Targets: pipe throughput ≥ ssh's (${ratios.pipe?.toFixed(2)}: ${verdict((ratios.pipe ?? 0) >= 1)}), terminal throughput ≥ ssh's (${ratios.terminal?.toFixed(2)}: ${verdict((ratios.terminal ?? 0) >= 1)}), echo p50 within 1.5× of ssh's (${echoRatio.toFixed(2)}: ${verdict(echoRatio <= 1.5)}).`,
    loadNote("at end"),
  );
  report("vs-ssh", ["measure", "olympus", "ssh", "ratio (olympus ÷ ssh)"], rows, notes);
});
