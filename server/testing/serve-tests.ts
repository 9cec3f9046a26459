import type { RequestOf, ResponseOf } from "../../shared/protocol/definitions.js";
import type { Link } from "../../shared/protocol/link.js";
import { test, testFiles, testStopEvent } from "../../shared/protocol/messages.js";
import type { CommandRoutes } from "../routing/command-routes.js";
import type { SlaveRegistry, SlaveSession } from "../sessions/registry.js";
import type { Watchers } from "../sessions/watchers.js";
import { TestQueue } from "./queue.js";
import { type Participant, TestSuite } from "./suite.js";
import type { TimingStore } from "./timings.js";

export interface TestContext {
  registry: SlaveRegistry;
  watchers: Watchers;
  routes: CommandRoutes;
  timings: TimingStore;
  suites: TestSuites;
}

/** The suites running now, by the control that asked for them: a control that goes away stops its own. */
export class TestSuites {
  private readonly byControl = new Map<Link, Map<string, TestSuite>>();

  add(control: Link, id: string, suite: TestSuite): void {
    if (this.byControl.get(control)?.has(id)) throw new Error(`suite id ${id} is in use`);
    const suites = this.byControl.get(control) ?? new Map<string, TestSuite>();
    suites.set(id, suite);
    this.byControl.set(control, suites);
  }

  remove(control: Link, id: string): void {
    this.byControl.get(control)?.delete(id);
    if (this.byControl.get(control)?.size === 0) this.byControl.delete(control);
  }

  stop(control: Link, id: string): void {
    this.byControl.get(control)?.get(id)?.stop();
  }

  controlClosed(control: Link): void {
    for (const suite of this.byControl.get(control)?.values() ?? []) suite.stop();
  }
}

/** Serves `test_request` and `test_stop_event` on a control's link. */
export function serveTests(link: Link, context: TestContext): void {
  link.onRequest(test, (data) => startSuite(link, data, context));
  link.onEvent(testStopEvent, ({ suite_id }) => context.suites.stop(link, suite_id));
}

async function startSuite(
  control: Link,
  data: RequestOf<typeof test>,
  { registry, watchers, routes, timings, suites }: TestContext,
): Promise<ResponseOf<typeof test>> {
  const command = data.command ?? "test";
  const chosen = data.slaves === undefined ? registry.sessions() : data.slaves.map((name) => registry.find(name));
  if (chosen.length === 0) throw new Error("no slaves are connected");
  const phase = phaseOf(chosen, command);
  const ready = chosen.filter((session) => stateOf(session, phase) === "ready");
  if (ready.length === 0) {
    const states = chosen.map((session) => `${session.info.name}: ${stateOf(session, phase)}`).join(", ");
    throw new Error(`no slave has phase ${phase} ready for ${command} (${states})`);
  }
  const answers = await Promise.all(
    ready.map((session) => session.link.request(testFiles, { patterns: data.patterns })),
  );
  // Every slave runs the same app; the first one's files are the suite.
  const { plan, files } = answers[0] as ResponseOf<typeof testFiles>;
  if (files.length === 0) {
    const what = data.patterns.length > 0 ? data.patterns.join(" ") : "the plan's test files";
    throw new Error(`no test files match ${what} on ${ready[0]?.info.name}`);
  }
  const participants: Participant[] = ready.map((session, index) => ({
    session,
    jobs: data.jobs ?? answers[index]?.cpus ?? 1,
    active: true,
    running: new Set(),
    files: 0,
    seconds: 0,
    failures: 0,
  }));
  const planKey = `${plan} ${command}`;
  const queue = new TestQueue(files, timings.read(planKey), data.rerun_failed === true);
  const suite = new TestSuite({
    id: data.suite_id,
    control,
    command,
    phase,
    participants,
    queue,
    routes,
    registry,
    watchers,
    onDone: (durations, failed) => {
      suites.remove(control, data.suite_id);
      timings.record(planKey, durations, failed);
    },
  });
  suites.add(control, data.suite_id, suite);
  // After the response is on its way: the first file events follow it.
  setImmediate(() => suite.start());
  return {
    command,
    phase,
    files: files.length,
    slaves: participants.map(({ session, jobs }) => ({ name: session.info.name, jobs })),
  };
}

/** The phase a command (or alias) hangs off, in the first chosen slave's plan that has it. */
function phaseOf(sessions: SlaveSession[], command: string): string {
  for (const session of sessions) {
    const found = session.tree.commands.find((entry) => entry.name === command || entry.aliases.includes(command));
    if (found !== undefined) return found.parent;
  }
  throw new Error(`no slave's plan has a command named ${JSON.stringify(command)}`);
}

function stateOf(session: SlaveSession, phase: string): string {
  return session.tree.nodes.find((node) => node.name === phase)?.state ?? "not in its plan";
}
