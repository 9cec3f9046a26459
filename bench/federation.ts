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
 * - scale: 3,000 simulated idle slaves over three masters (bench/federation-scale).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

await main(async () => {
  const nats = await startNats([]);
  await relay(nats);
  await failover(nats);
  await federationScale(nats, TOKEN);
});
