/**
 * bench/federation: masters over NATS (`--nats`).
 *
 * - relay: `ping_request` control → master A → NATS → master B → slave →
 *   back, at 1, 16 and 128 in flight, next to the same slave pinged through
 *   its own master alone (control → B → slave), measured in the same run in
 *   alternating slices. Target: ≥ 0.5× at 128 in flight.
 * - failover: from `kill -9` of a master until all its slaves (started with
 *   `--master X,B`) are listed again, on B, through master A. Target: ≤ 2 s
 *   at the median.
 * - command failover: `exec seq` through master X, which is killed a quarter
 *   of the way, its slave and control resuming through B; against the same
 *   command through B undisturbed, in alternating rounds. Every byte checked.
 * - scale: 3,000 simulated idle slaves over three masters (bench/federation-scale).
 */
import { createHash } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { OlympusClient } from "../control/client/client.js";
import { federationScale } from "./federation-scale.js";
import { main } from "./harness.js";
import { load, nextFrame, pingFrame, type Side, type Slice, startProcess, summarize } from "./ping-load.js";
import { median, report } from "./report.js";

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 3000);
const SLICES = 8;
const WARMUP_LOAD_MS = 3000;
const FAILOVER_ROUNDS = Number(process.env.BENCH_FAILOVER_ROUNDS ?? 5);
const FAILOVER_SLAVES = Number(process.env.BENCH_FAILOVER_SLAVES ?? 5);
const COMMAND_ROUNDS = Number(process.env.BENCH_COMMAND_ROUNDS ?? 5);
/** `seq 1 SEQ_LAST`: about 58 MB of output. */
const SEQ_LAST = 8_000_000;
const TOKEN = "bench-token";
const olympus = fileURLToPath(new URL("../bin/olympus.js", import.meta.url));

async function startNats(pids: number[]): Promise<string> {
  const store = mkdtempSync(join(tmpdir(), "olympus-bench-nats-"));
  const args = ["-a", "127.0.0.1", "-p", "-1", "-js", "-sd", store];
  const [, port] = (await startProcess(
    args,
    /client connections on 127\.0\.0\.1:(\d+)/,
    pids,
    "nats-server",
  )) as string[];
  return `nats://127.0.0.1:${port}`;
}

async function startMaster(nats: string, pids: number[]): Promise<string> {
  const args = [olympus, "master", "--port", "0", "--token", TOKEN, "--nats", nats, "--heartbeat-interval", "500"];
  const [, url] = (await startProcess(args, /listening on (\S+)/, pids)) as string[];
  return url as string;
}

async function startSlave(masters: string, name: string, pids: number[]): Promise<void> {
  await startProcess([olympus, "slave", "--master", masters, "--name", name, "--token", TOKEN], /connected to/, pids);
}

/** A raw-ws control registered on `url`, as bench/relay's. */
async function controlSocket(url: string): Promise<WebSocket> {
  const socket = new WebSocket(url);
  await nextFrame(socket);
  socket.send(
    JSON.stringify({ seq: 1, type: "register_control", data: { agent: "bench", version: "2.0.0", token: TOKEN } }),
  );
  await nextFrame(socket);
  return socket;
}

async function relay(nats: string): Promise<void> {
  const pids: number[] = [];
  const [a, b] = [await startMaster(nats, pids), await startMaster(nats, pids)];
  await startSlave(b, "bench", pids);
  const client = await OlympusClient.connect({ urls: [a], token: TOKEN });
  while (!(await client.listSlaves()).some((slave) => slave.name === "bench"))
    await new Promise((resolve) => setTimeout(resolve, 50));
  client.close();
  const sides: Record<"federated" | "single", Side> = {
    federated: { socket: await controlSocket(a), pids },
    single: { socket: await controlSocket(b), pids },
  };
  for (const side of Object.values(sides)) await load(side, 16, WARMUP_LOAD_MS, pingFrame);
  const rows: (string | number)[][] = [];
  for (const inFlight of [1, 16, 128]) {
    const slices = { federated: [] as Slice[], single: [] as Slice[] };
    for (let slice = 0; slice < SLICES; slice++)
      for (const name of ["single", "federated"] as const)
        slices[name].push(await load(sides[name], inFlight, DURATION_MS / SLICES, pingFrame));
    const [federated, single] = [summarize(slices.federated), summarize(slices.single)];
    rows.push([
      inFlight,
      federated.rps,
      single.rps,
      federated.rps / single.rps,
      federated.p50,
      federated.p99,
      single.p50,
      single.p99,
    ]);
  }
  for (const side of Object.values(sides)) side.socket.close();
  report(
    "federation-relay",
    [
      "in flight",
      "two masters req/s",
      "one master req/s",
      "throughput ratio",
      "two masters p50 ms",
      "two masters p99 ms",
      "one master p50 ms",
      "one master p99 ms",
    ],
    rows,
    [
      `ping control → A → NATS → B → slave, against control → B → slave, ${DURATION_MS} ms per side and level in ${SLICES} alternating slices; both sides first served ${WARMUP_LOAD_MS} ms of load unmeasured. The CPU of nats-server and both masters is shared by both sides.`,
      "Target: throughput ratio ≥ 0.5 at 128 in flight.",
    ],
  );
}

async function failover(nats: string): Promise<void> {
  const pids: number[] = [];
  const [a, b] = [await startMaster(nats, pids), await startMaster(nats, pids)];
  const client = await OlympusClient.connect({ urls: [a], token: TOKEN });
  const times: number[] = [];
  for (let round = 0; round < FAILOVER_ROUNDS; round++) {
    const doomedPids: number[] = [];
    const doomed = await startMaster(nats, doomedPids);
    const names = Array.from({ length: FAILOVER_SLAVES }, (_, index) => `r${round}-s${index}`);
    const slavePids: number[] = [];
    await Promise.all(names.map((name) => startSlave(`${doomed},${b}`, name, slavePids)));
    const listedOn = async (master: string) => {
      const listed = await client.listSlaves();
      return names.every((name) => listed.some((slave) => slave.name === name && slave.master === master));
    };
    while (!(await listedOn(doomed))) await new Promise((resolve) => setTimeout(resolve, 20));
    const killedAt = performance.now();
    process.kill(doomedPids[0] as number, "SIGKILL");
    while (!(await listedOn(b))) await new Promise((resolve) => setTimeout(resolve, 20));
    times.push(performance.now() - killedAt);
    for (const pid of slavePids) process.kill(pid, "SIGKILL");
  }
  client.close();
  report(
    "federation-failover",
    ["rounds", "slaves per round", "median ms", "max ms"],
    [[FAILOVER_ROUNDS, FAILOVER_SLAVES, median(times), Math.max(...times)]],
    [
      "From kill -9 of a master until all its slaves, started with --master X,B, are listed on B through a third master A (heartbeat interval 500 ms). Target: median ≤ 2000 ms.",
    ],
  );
}

/** The output of `seq 1 last`, built here: what the control must receive, once. */
function seqOutput(last: number): { bytes: number; sha256: string } {
  const hash = createHash("sha256");
  let bytes = 0;
  for (let from = 1; from <= last; from += 100_000) {
    const lines = [];
    for (let n = from; n < Math.min(from + 100_000, last + 1); n++) lines.push(n);
    const text = `${lines.join("\n")}\n`;
    hash.update(text);
    bytes += text.length;
  }
  return { bytes, sha256: hash.digest("hex") };
}

/** Runs `seq` on `slave` through `urls`; `midway` is called once a quarter of `expected` has come. */
async function seqThrough(urls: string[], slave: string, expected: number, midway: () => void) {
  const client = await OlympusClient.connect({ urls, token: TOKEN });
  const hash = createHash("sha256");
  let bytes = 0;
  let resumedAt = 0;
  const stdout = new Writable({
    write(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      if (bytes < expected / 4 && bytes + chunk.length >= expected / 4) midway();
      bytes += chunk.length;
      done();
    },
  });
  const stderr = new Writable({ write: (_chunk, _encoding, done) => done() });
  const command = client.command(slave, { stdout, stderr });
  command.onNotice = (line) => {
    if (line.startsWith("resumed")) resumedAt = performance.now();
  };
  const started = performance.now();
  await command.start({ kind: "exec", program: "seq", args: ["1", String(SEQ_LAST)] }, null);
  const outcome = await command.outcome;
  const ms = performance.now() - started;
  client.close();
  return { ms, bytes, sha256: hash.digest("hex"), resumedAt, code: "code" in outcome ? outcome.code : null };
}

async function commandFailover(nats: string): Promise<void> {
  const expected = seqOutput(SEQ_LAST);
  const pids: number[] = [];
  const b = await startMaster(nats, pids);
  await startSlave(b, "steady", pids);
  const [moved, steady, gaps] = [[] as number[], [] as number[], [] as number[]];
  let whole = 0;
  for (let round = 0; round < COMMAND_ROUNDS; round++) {
    const calm = await seqThrough([b], "steady", expected.bytes, () => {});
    steady.push(calm.ms);
    const doomedPids: number[] = [];
    const doomed = await startMaster(nats, doomedPids);
    const slavePids: number[] = [];
    await startSlave(`${doomed},${b}`, `mover-${round}`, slavePids);
    let killedAt = 0;
    const run = await seqThrough([doomed, b], `mover-${round}`, expected.bytes, () => {
      killedAt = performance.now();
      process.kill(doomedPids[0] as number, "SIGKILL");
    });
    moved.push(run.ms);
    gaps.push(run.resumedAt - killedAt);
    for (const result of [calm, run])
      if (result.code === 0 && result.bytes === expected.bytes && result.sha256 === expected.sha256) whole++;
    for (const pid of slavePids) process.kill(pid, "SIGKILL");
  }
  report(
    "federation-command-failover",
    [
      "rounds",
      "MB",
      "killed midway: median ms",
      "undisturbed: median ms",
      "ratio",
      "kill to resumed: median ms",
      "runs whole",
    ],
    [
      [
        COMMAND_ROUNDS,
        expected.bytes / 1e6,
        median(moved),
        median(steady),
        median(moved) / median(steady),
        median(gaps),
        `${whole}/${2 * COMMAND_ROUNDS}`,
      ],
    ],
    [
      `\`exec seq 1 ${SEQ_LAST}\` through an in-process control: through master X (slave and control given X,B), killed with -9 once a quarter of the output has come, against the same command through B undisturbed, alternating; every run's bytes checked by sha256 against the expected output.`,
    ],
  );
}

await main(async () => {
  const nats = await startNats([]);
  await relay(nats);
  await failover(nats);
  await commandFailover(nats);
  // A NATS of its own: the masters killed above leave leases and entries behind.
  await federationScale(await startNats([]), TOKEN);
});
