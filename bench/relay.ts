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
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { quantile, report } from "./report.js";

const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 3000);
const SLICES = 8;
const WARMUP_MS = 250;
const WARMUP_LOAD_MS = 3000;
const TOKEN = "bench-token";
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const children: ChildProcess[] = [];

function startProcess(args: string[], ready: RegExp, pids: number[]): Promise<RegExpMatchArray> {
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  pids.push(child.pid!);
  let output = "";
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = output.match(ready);
      if (match !== null) resolve(match);
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`${args.join(" ")} exited with ${code}:\n${output}`)));
  });
}

function nextFrame(socket: WebSocket): Promise<{ type: string; data: Record<string, unknown> }> {
  return new Promise((resolve) => socket.once("message", (text) => resolve(JSON.parse(text.toString()))));
}

interface Slice {
  completed: number;
  elapsedMs: number;
  latencies: number[];
  /** CPU time the side's server processes used while measured. */
  cpuSeconds: number;
}

/** One side under load: the load generator's socket and the pids of the processes that serve it. */
interface Side {
  socket: WebSocket;
  pids: number[];
}

/** Linux reports CPU time in clock ticks of 1/100 s (USER_HZ) in /proc/<pid>/stat. */
const TICKS_PER_SECOND = 100;

/** User plus system CPU time of these processes so far. */
function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    // The fields after the command name, which is in parentheses and may hold spaces: utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / TICKS_PER_SECOND;
}

/** Frames are numbered for the whole session (the master drops a seq it has seen), so across runs too. */
let seq = 1000;

/** Keeps `inFlight` requests outstanding for `durationMs` (after a warm-up) and records each round trip. */
async function load(
  { socket, pids }: Side,
  inFlight: number,
  durationMs: number,
  frame: (seq: number) => string,
): Promise<Slice> {
  const sentAt = new Map<number, number>();
  const latencies: number[] = [];
  let measuring = false;
  let stopping = false;
  let completed = 0;
  const send = () => {
    const id = ++seq;
    sentAt.set(id, performance.now());
    socket.send(frame(id));
  };
  const onMessage = (text: WebSocket.RawData) => {
    const { data } = JSON.parse(text.toString()) as { data: { seq: number } };
    const started = sentAt.get(data.seq);
    if (started === undefined) return;
    sentAt.delete(data.seq);
    if (measuring) {
      latencies.push(performance.now() - started);
      completed++;
    }
    if (!stopping) send();
  };
  socket.on("message", onMessage);
  for (let i = 0; i < inFlight; i++) send();
  await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));
  measuring = true;
  const began = performance.now();
  const cpuBefore = cpuSeconds(pids);
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  const elapsedMs = performance.now() - began;
  const cpuUsed = cpuSeconds(pids) - cpuBefore;
  measuring = false;
  stopping = true;
  while (sentAt.size > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  socket.off("message", onMessage);
  return { completed, elapsedMs, latencies, cpuSeconds: cpuUsed };
}

/** Slices of one side, summed: requests per second, p50 and p99 in ms, and server CPU per request in µs. */
function summarize(slices: Slice[]): { rps: number; p50: number; p99: number; cpuPerRequest: number } {
  const latencies = slices.flatMap((slice) => slice.latencies);
  const sum = (field: "completed" | "elapsedMs" | "cpuSeconds") =>
    slices.reduce((total, slice) => total + slice[field], 0);
  return {
    rps: (sum("completed") / sum("elapsedMs")) * 1000,
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    cpuPerRequest: (sum("cpuSeconds") / sum("completed")) * 1e6,
  };
}

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

function pingFrame(seq: number): string {
  return JSON.stringify({ seq, type: "ping_request", data: { slave: "bench" } });
}

try {
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
} catch (error) {
  console.error(`bench/relay failed: ${(error as Error).stack}`);
  process.exitCode = 1;
} finally {
  for (const child of children) child.kill("SIGKILL");
  process.exit();
}
