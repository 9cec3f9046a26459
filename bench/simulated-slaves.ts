/**
 * Many simulated slaves on a master, as bench/scale and bench/federation use
 * them: the load generator (bench/scale-slaves), their names, a fan-out ping
 * to all of them, and a settled reading of a process's memory.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { DEFAULT_MAX_REQUESTS_IN_FLIGHT } from "../shared/protocol/limits.js";
import { Inspector, rssMb } from "../test/helpers/inspector.js";
import { type Started, startNode } from "../test/helpers/processes.js";
import type { RawClient, RawFrame } from "../test/helpers/raw-client.js";
import { median } from "./report.js";

/** Idle time before RSS is read, so both readings see a settled heap. */
export const SETTLE_MS = 5000;
export const generatorBin = fileURLToPath(new URL("scale-slaves.js", import.meta.url));

export interface Generated {
  started: Started;
  connected: number;
  refused: Record<string, number>;
  ms: number;
}

/** Runs the load generator; resolves once all its clients are connected or refused. */
export async function generate(args: string[]): Promise<Generated> {
  const started = startNode(generatorBin, args);
  const [line] = await started.waitFor(/^\{.*\}$/m, 120_000);
  return { started, ...(JSON.parse(line) as Omit<Generated, "started">) };
}

export const names = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, index) => `${prefix}-${index}`);

/** The median of a few RSS readings in KB, after a quiet spell and a full GC. */
export async function settledRssKb(pid: number, inspector: Inspector): Promise<number> {
  await sleep(SETTLE_MS);
  await inspector.collectGarbage();
  await sleep(500);
  const readings: number[] = [];
  for (let i = 0; i < 5; i++) {
    readings.push(rssMb(pid) * 1024);
    await sleep(200);
  }
  return median(readings);
}

/**
 * Pings every slave, as many at once as the master takes from one control
 * (as the client library does); resolves with the time until the last answer, in ms.
 */
export async function fanOut(control: RawClient, slaves: string[]): Promise<number> {
  const began = performance.now();
  const responses: RawFrame[] = [];
  let next = 0;
  const lane = async () => {
    while (next < slaves.length) responses.push(await control.request("ping_request", { slave: slaves[next++] }));
  };
  await Promise.all(Array.from({ length: Math.min(slaves.length, DEFAULT_MAX_REQUESTS_IN_FLIGHT) }, lane));
  const milliseconds = performance.now() - began;
  const errors = responses.filter((response) => response.data.error !== undefined);
  if (errors.length > 0)
    throw new Error(`${errors.length} of ${slaves.length} pings failed, e.g. ${JSON.stringify(errors[0])}`);
  return milliseconds;
}

export async function countSlaves(control: RawClient): Promise<number> {
  const { data } = await control.request("list_slaves_request", {});
  return (data.slaves as unknown[]).length;
}

/** One unmeasured round, then `rounds` measured. */
export async function fanOutRounds(control: RawClient, slaves: string[], rounds: number): Promise<number[]> {
  await fanOut(control, slaves); // warm-up round, not measured
  const times: number[] = [];
  for (let round = 0; round < rounds; round++) times.push(await fanOut(control, slaves));
  return times;
}

/** A process with its inspector on, once it printed `ready`: its pid, the match and the inspector. */
export async function startInspected(
  script: string,
  args: string[],
  ready: RegExp,
  options: Parameters<typeof startNode>[2],
) {
  const started = startNode("--inspect=127.0.0.1:0", [script, ...args], options);
  const match = await started.waitFor(ready);
  return { started, match, pid: started.child.pid as number, inspector: await Inspector.open(started.output) };
}
