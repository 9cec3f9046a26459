/**
 * bench/relay: `ping_request` control → master → slave → back, at 1, 16 and
 * 128 requests in flight, next to two bare `ws` relays measured in the same
 * run (bare-relay.ts): the forwarder, which does what a relay of this
 * protocol must (parse, route by `data.slave`, renumber) and nothing more,
 * is the baseline for the targets; the pipe, which passes frames untouched
 * between one control and one responder, is shown beside it. The load
 * generator is the same raw-ws client for all three, so the difference is the
 * master and agent. Each level alternates the sides in SLICES slices, so a
 * change in the machine's speed (this VM's swings by ±30 % over seconds) hits
 * all alike. Before the levels, each side serves WARMUP_LOAD_MS of load
 * unmeasured: all are long-running servers, and their first few thousand
 * requests, before V8 has optimized the hot paths, are not what users meet.
 */
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { main } from "./harness.js";
import { load, nextFrame, pingFrame, type Side, type Slice, startProcess, summarize, WARMUP_MS } from "./ping-load.js";
import { report } from "./report.js";

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 3000);
const SLICES = 8;
const WARMUP_LOAD_MS = 3000;
const TOKEN = "bench-token";
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
async function olympusSide(): Promise<Side & { metricsUrl: string }> {
  const olympus = here("../bin/olympus.js");
  const pids: number[] = [];
  const [, url] = (await startProcess(
    [olympus, "master", "--port", "0", "--token", TOKEN],
    /listening on (\S+)/,
    pids,
  )) as string[];
  await startProcess(
    [olympus, "slave", "--master", url as string, "--name", "bench", "--token", TOKEN],
    /connected to/,
    pids,
  );
  const socket = new WebSocket(url as string);
  await nextFrame(socket);
  socket.send(
    JSON.stringify({ seq: 1, type: "register_control", data: { agent: "bench", version: "2.0.0", token: TOKEN } }),
  );
  await nextFrame(socket);
  return { socket, pids, metricsUrl: new URL("/metrics", (url as string).replace(/^ws/, "http")).href };
}

/** The master's garbage collections so far, by kind, from its own /metrics (prom-client's nodejs_gc_duration_seconds). */
async function masterCollections(metricsUrl: string): Promise<{ major: number; minor: number; minorSeconds: number }> {
  const text = await (await fetch(metricsUrl, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
  const value = (series: string) => {
    const line = text.split("\n").find((candidate) => candidate.startsWith(`nodejs_gc_duration_seconds_${series} `));
    return line === undefined ? 0 : Number(line.split(" ")[1]);
  };
  return {
    major: value('count{kind="major"}'),
    minor: value('count{kind="minor"}'),
    minorSeconds: value('sum{kind="minor"}'),
  };
}

async function bareSide(kind: "forwarder" | "pipe"): Promise<Side> {
  const relay = here("bare-relay.js");
  const pids: number[] = [];
  const [, port] = (await startProcess([relay, kind], /listening (\d+)/, pids)) as string[];
  const url = `ws://127.0.0.1:${port}`;
  await startProcess([relay, "responder", url, "bench"], /connected/, pids);
  const socket = new WebSocket(`${url}/control`);
  await new Promise((resolve) => socket.once("open", resolve));
  return { socket, pids };
}

await main(async () => {
  const sides = { olympus: await olympusSide(), forwarder: await bareSide("forwarder"), pipe: await bareSide("pipe") };
  for (const side of Object.values(sides)) await load(side, 16, WARMUP_LOAD_MS, pingFrame);
  const collectionsBefore = await masterCollections(sides.olympus.metricsUrl);
  const rows: (string | number)[][] = [];
  const pipeRows: (string | number)[][] = [];
  for (const inFlight of [1, 16, 128]) {
    const slices = { olympus: [] as Slice[], forwarder: [] as Slice[], pipe: [] as Slice[] };
    for (let slice = 0; slice < SLICES; slice++) {
      for (const name of ["forwarder", "pipe", "olympus"] as const) {
        slices[name].push(await load(sides[name], inFlight, DURATION_MS / SLICES, pingFrame));
      }
    }
    const [ours, forwarder, pipe] = [summarize(slices.olympus), summarize(slices.forwarder), summarize(slices.pipe)];
    rows.push([
      inFlight,
      ours.rps,
      forwarder.rps,
      ours.rps / forwarder.rps,
      ours.p50,
      ours.p99,
      forwarder.p50,
      forwarder.p99,
      ours.p99 / forwarder.p99,
      ours.cpuPerRequest,
      forwarder.cpuPerRequest,
    ]);
    pipeRows.push([
      inFlight,
      pipe.rps,
      ours.rps / pipe.rps,
      pipe.p50,
      pipe.p99,
      ours.p99 / pipe.p99,
      pipe.cpuPerRequest,
    ]);
  }
  const collectionsAfter = await masterCollections(sides.olympus.metricsUrl);
  const scavenges = collectionsAfter.minor - collectionsBefore.minor;
  const gcNote = `The master during the levels: ${collectionsAfter.major - collectionsBefore.major} full collections, ${scavenges} scavenges of ${((1000 * (collectionsAfter.minorSeconds - collectionsBefore.minorSeconds)) / scavenges).toFixed(2)} ms on average.`;
  const cpuNote =
    "CPU µs/req: user and system time of the side's two server processes (master and agent, or relay and responder) per request.";
  report(
    "relay",
    [
      "in flight",
      "olympus req/s",
      "forwarder req/s",
      "throughput ratio",
      "olympus p50 ms",
      "olympus p99 ms",
      "forwarder p50 ms",
      "forwarder p99 ms",
      "p99 ratio",
      "olympus CPU µs/req",
      "forwarder CPU µs/req",
    ],
    rows,
    [
      `${DURATION_MS} ms per side and level, in ${SLICES} alternating slices, each after ${WARMUP_MS} ms of warm-up; each side first served ${WARMUP_LOAD_MS} ms of load at 16 in flight, unmeasured.`,
      cpuNote,
      gcNote,
      "Targets, against the forwarder: throughput ratio ≥ 0.7, p99 ratio ≤ 1.5.",
    ],
  );
  report(
    "relay-pipe",
    [
      "in flight",
      "pipe req/s",
      "olympus / pipe throughput",
      "pipe p50 ms",
      "pipe p99 ms",
      "olympus / pipe p99",
      "pipe CPU µs/req",
    ],
    pipeRows,
    [
      "The pipe passes frames untouched between one control and one responder: a floor no relay of the protocol can reach, shown for scale.",
      cpuNote,
    ],
  );
});
