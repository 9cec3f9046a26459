/**
 * The scale part of bench/federation: 3,000 simulated idle slaves spread
 * over three masters that share one NATS server, 1,000 on each (one
 * bench/scale-slaves generator per master). Measures each master's RSS per
 * slave, and a fan-out ping from a control on the first master to all 3,000
 * (two thirds of them through NATS), next to the same control pinging only
 * its own master's 1,000 in the same run. Target: all 3,000 answered within
 * 1 s.
 */
import { eventually, olympusBin, stop } from "../test/helpers/processes.js";
import { RawClient } from "../test/helpers/raw-client.js";
import { onCleanup, tempDir } from "./harness.js";
import { median, report } from "./report.js";
import { countSlaves, fanOutRounds, generate, names, settledRssKb, startInspected } from "./simulated-slaves.js";

const SLAVES_PER_MASTER = Number(process.env.BENCH_FEDERATION_SLAVES ?? 1000);
const MASTERS = 3;
const ROUNDS = 5;
const TARGET_FAN_OUT_MS = 1000;

export async function federationScale(nats: string, token: string): Promise<void> {
  const masters = await Promise.all(
    Array.from({ length: MASTERS }, async () => {
      const args = ["master", "--port", "0", "--token", token, "--nats", nats, "--handshake-limit", "100000"];
      const master = await startInspected(olympusBin, args, /master listening on (ws:\/\/\S+)/, {
        cwd: tempDir("federation-scale"),
      });
      onCleanup(async () => {
        master.inspector.close();
        await stop(master.started);
      });
      return { ...master, url: master.match[1] as string };
    }),
  );
  const control = await RawClient.open(masters[0]!.url);
  await control.registerControl(token, "bench/federation");
  onCleanup(() => control.close("bench done"));
  const settled = () => Promise.all(masters.map((master) => settledRssKb(master.pid, master.inspector)));

  const before = await settled();
  const generated = await Promise.all(
    masters.map((master, index) =>
      generate(["slaves", master.url, String(SLAVES_PER_MASTER), token, `m${index}`]).then((run) => {
        onCleanup(() => stop(run.started));
        return run;
      }),
    ),
  );
  for (const run of generated)
    if (run.connected < SLAVES_PER_MASTER) throw new Error(`slaves refused: ${JSON.stringify(run.refused)}`);
  const total = MASTERS * SLAVES_PER_MASTER;
  let listed = 0;
  await eventually(
    async () => {
      listed = await countSlaves(control);
      return listed === total;
    },
    60_000,
    `all ${total} slaves to be listed`,
  ).catch((error: Error) => {
    throw new Error(`${error.message} (${listed} are)\n${federationLines(masters)}`);
  });
  const after = await settled();

  const everyone = masters.flatMap((_, index) => names(`m${index}`, SLAVES_PER_MASTER));
  const own = names("m0", SLAVES_PER_MASTER);
  const [fleetMs, ownMs] = await Promise.resolve()
    .then(async () => [await fanOutRounds(control, everyone, ROUNDS), await fanOutRounds(control, own, ROUNDS)])
    .catch((error: Error) => {
      throw new Error(`${error.message}\n${federationLines(masters)}`);
    });
  const perSlaveKb = after.map((kb, index) => (kb - (before[index] as number)) / SLAVES_PER_MASTER);
  report(
    "federation-scale",
    ["measure", "value", "baseline", "ratio", "target"],
    [
      ...perSlaveKb.map((kb, index) => [`RSS per idle slave, master ${"ABC"[index]} (KB)`, kb, "", "", ""]),
      [
        `fan-out ping to all ${total} slaves from master A, median of ${ROUNDS} (ms)`,
        median(fleetMs),
        median(ownMs),
        median(fleetMs) / median(ownMs),
        `≤ ${TARGET_FAN_OUT_MS}`,
      ],
      [`the same, max (ms)`, Math.max(...fleetMs), Math.max(...ownMs), Math.max(...fleetMs) / Math.max(...ownMs), ""],
    ],
    [
      `${MASTERS} masters over one nats-server, ${SLAVES_PER_MASTER} simulated idle slaves on each from its own generator. RSS read after a quiet spell and a full GC, before and after the slaves. Baseline: the same control pinging only the ${SLAVES_PER_MASTER} slaves of its own master, in the same run.`,
      `Fan-out rounds to all ${total}: ${fleetMs.map((ms) => ms.toFixed(0)).join(", ")} ms; to master A's own: ${ownMs.map((ms) => ms.toFixed(0)).join(", ")} ms. Target: ≤ ${TARGET_FAN_OUT_MS} ms (${median(fleetMs) <= TARGET_FAN_OUT_MS ? "met" : "missed"}).`,
    ],
  );
}

/** What the masters said of the federation: it tells why a slave went missing. */
function federationLines(masters: { started: { output: string } }[]): string {
  return masters
    .flatMap((master) => master.started.output.split("\n").filter((line) => /federation/.test(line)))
    .join("\n");
}
