import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startOlympus, writePythonApp } from "./helpers/app.js";
import { controlBin, eventually, run, startNode, stopAll } from "./helpers/processes.js";

/** The value of one series in Prometheus text, e.g. `olympus_nodes{state="ready"}`; 0 when absent. */
function sample(text: string, series: string): number {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe("GET /metrics", () => {
  let dir: string;
  let olympus: Awaited<ReturnType<typeof startOlympus>>;

  const get = (path: string, token: string | null = olympus.token) =>
    fetch(new URL(path, olympus.httpUrl), { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  const scrape = async () => {
    const response = await get("/metrics");
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    return response.text();
  };
  /** `control` from the app's directory: it finds the master through .olympus/master.json. */
  const control = async (...args: string[]) => {
    const result = await run(controlBin, args, { cwd: dir });
    assert.equal(result.code, 0, `control ${args.join(" ")}: ${result.stderr}`);
    return result.stdout;
  };

  before(async () => {
    dir = writePythonApp();
    olympus = await startOlympus(dir, ["--session-timeout", "1000"]);
  });
  after(stopAll);

  it("refuses a scrape without the bearer token or with a wrong one", async () => {
    assert.equal((await get("/metrics", null)).status, 401);
    assert.equal((await get("/metrics", "wrong")).status, 401);
  });

  it("shows the slave, its ready nodes, and the default process metrics", async () => {
    let text = "";
    await eventually(
      async () => {
        text = await scrape();
        return sample(text, 'olympus_nodes{state="ready"}') === 2;
      },
      10_000,
      "boot and work ready",
    );
    assert.equal(sample(text, "olympus_slaves_connected"), 1);
    assert.equal(sample(text, 'olympus_nodes{state="crashed"}'), 0);
    assert.equal(sample(text, "olympus_commands_running"), 0);
    assert.ok(sample(text, "process_resident_memory_bytes") > 0);
  });

  it("counts messages by type and times requests after control status and ping", async () => {
    const before = await scrape();
    await control("status");
    await control("ping");
    const slave = (JSON.parse(await control("slaves", "--json")) as { name: string }[])[0]?.name as string;
    await control("ping", slave);
    const after = await scrape();

    const moved = (series: string) => sample(after, series) - sample(before, series);
    assert.equal(moved('olympus_messages_total{direction="in",type="status_request"}'), 1);
    assert.equal(moved('olympus_messages_total{direction="out",type="status_response"}'), 1);
    // Two pings in from the control; one forwarded out to the slave and its answer back.
    assert.equal(moved('olympus_messages_total{direction="in",type="ping_request"}'), 2);
    assert.equal(moved('olympus_messages_total{direction="out",type="ping_request"}'), 1);
    assert.equal(moved('olympus_messages_total{direction="in",type="ping_response"}'), 1);
    assert.equal(moved('olympus_request_duration_seconds_count{type="status_request"}'), 1);
    assert.equal(moved('olympus_request_duration_seconds_count{type="ping_request"}'), 2);
    assert.equal(moved('olympus_request_duration_seconds_count{type="list_slaves_request"}'), 1);
    assert.ok(moved('olympus_request_duration_seconds_sum{type="ping_request"}') > 0);
  });

  it("counts a control run: the forwarded request, its relayed output, and its exit", async () => {
    const before = await scrape();
    assert.match(await control("run", "hello"), /^hello from pid \d+/);
    const after = await scrape();

    const moved = (series: string) => sample(after, series) - sample(before, series);
    for (const [direction, type] of [
      ["in", "run_request"],
      ["out", "run_request"],
      ["in", "run_response"],
      ["out", "run_response"],
    ]) {
      assert.equal(moved(`olympus_messages_total{direction="${direction}",type="${type}"}`), 1, `${direction} ${type}`);
    }
    assert.equal(moved('olympus_messages_total{direction="out",type="command_exit_event"}'), 1);
    assert.equal(moved('olympus_request_duration_seconds_count{type="run_request"}'), 1);
    // The control takes binary frames: its output is counted as command_bytes.
    assert.ok(moved('olympus_messages_total{direction="out",type="command_bytes"}') >= 1);
    assert.ok(moved('olympus_relayed_bytes_total{type="command_bytes"}') > 0);
  });

  it("gauges the commands running", async () => {
    const sleeper = startNode(controlBin, ["exec", "--", "sleep", "30"], { cwd: dir });
    await eventually(
      async () => sample(await scrape(), "olympus_commands_running") === 1,
      10_000,
      "one command running",
    );
    // The control goes away: the master hangs the command up, and it ends.
    await sleeper.kill("SIGKILL");
    await eventually(
      async () => sample(await scrape(), "olympus_commands_running") === 0,
      10_000,
      "no command running",
    );
  });

  it("answers /api/health with the version and counts", async () => {
    const response = await get("/api/health");
    assert.equal(response.status, 200);
    const health = (await response.json()) as Record<string, unknown>;
    assert.match(String(health.version), /^\d+\.\d+\.\d+$/);
    assert.equal(health.slaves, 1);
    assert.equal(typeof health.controls, "number");
  });
});
