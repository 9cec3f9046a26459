import type { RequestDefinition } from "../../shared/protocol/definitions.js";
import type { Link } from "../../shared/protocol/link.js";
import {
  catalogue,
  commandAckEvent,
  commandInputEvent,
  commandResizeEvent,
  commandSignalEvent,
  commands,
  exec,
  history,
  historyOutput,
  listSlaves,
  ping,
  restart,
  resumeCommand,
  run,
  status,
  timeline,
  watch,
} from "../../shared/protocol/messages.js";
import type { SlaveRegistry } from "../sessions/registry.js";
import { serveTests, type TestContext } from "../testing/serve-tests.js";
import type { CommandHistory } from "./command-history.js";
import type { NodeTimeline } from "./node-timeline.js";

/** What serving a control needs: the slaves, the watchers, the command routes, the test suites, the history and the timeline. */
export type ControlContext = TestContext & { history: CommandHistory; timeline: NodeTimeline };

/** Who is asking: the control as the log names it. */
type Caller = () => string;

type LocalHandler = (data: Record<string, unknown>) => Record<string, unknown> | Promise<Record<string, unknown>>;

/**
 * Serves a control's requests. A request whose definition says
 * `forwardToSlave` and that names `data.slave` is relayed to that slave and
 * its answer comes back under the control's seq; without a slave it is
 * answered here, if the master has an answer of its own. `who` names the
 * control's token in the history of the commands it starts.
 */
export function serveControl(link: Link, who: string, context: ControlContext, caller: Caller): void {
  const { registry, watchers, routes, history: kept, timeline: changes } = context;
  link.onRequest(listSlaves, () => ({ slaves: registry.list() }));
  link.onRequest(status, ({ slave }) => {
    return { trees: slave === undefined ? registry.trees() : [registry.find(slave).tree] };
  });
  link.onRequest(watch, () => {
    watchers.add(link);
    return {};
  });
  link.onRequest(commands, () => ({ commands: routes.list() }));
  link.onRequest(history, ({ slave }) => ({
    entries: kept.list(slave === undefined ? undefined : registry.find(slave).info.name),
  }));
  link.onRequest(historyOutput, ({ command_id }) => ({ output: kept.output(command_id) }));
  link.onRequest(timeline, () => ({ events: changes.list() }));

  const answeredByMaster = new Map<string, LocalHandler>([
    [ping.type, () => ({})],
    [restart.type, (data) => restartEverywhere(registry, data)],
  ]);
  const commandLine = new Map<string, (data: Record<string, unknown>) => string[]>([
    [run.type, (data) => [data.command as string, ...(data.args as string[])]],
    [exec.type, (data) => [data.program as string, ...(data.args as string[])]],
    [resumeCommand.type, (data) => data.argv as string[]],
  ]);

  for (const definition of catalogue) {
    if (definition.kind !== "request" || !definition.forwardToSlave) continue;
    link.onRequest(definition, (data) => {
      const { slave } = data as { slave?: string };
      if (slave === undefined) {
        const local = answeredByMaster.get(definition.type);
        if (local === undefined) throw new Error(`${definition.type} needs data.slave naming a connected slave`);
        return local(data);
      }
      const session = registry.find(slave);
      const argv = commandLine.get(definition.type)?.(data);
      if (argv === undefined) return session.link.request(definition as RequestDefinition, data as never);
      // A command's events may arrive before its response: route them from the start.
      const id = data.command_id as string;
      const origin = { who, logAs: { kind: definition.type, caller: caller() } };
      const route = routes.open(id, link, session, argv, origin, definition === resumeCommand);
      return session.link.request(definition as RequestDefinition, data as never).catch((error: unknown) => {
        routes.discard(id, route);
        throw error;
      });
    });
  }

  for (const definition of [commandInputEvent, commandAckEvent, commandResizeEvent, commandSignalEvent]) {
    link.onEvent(definition, (data) => routes.fromControl(link, definition, data));
  }
  link.onBytes((frame, raw) => routes.bytesFromControl(link, frame, raw));
  serveTests(link, who, context);
}

/** `restart` without a slave: every slave restarts (on every federated master); the answer names `slave/node`. */
async function restartEverywhere(registry: SlaveRegistry, data: Record<string, unknown>) {
  const answers = await Promise.all(
    registry.list().map(async ({ name }) => {
      const session = registry.find(name);
      const { restarted } = await session.link.request(restart, { ...data, slave: session.info.name });
      return restarted.map((node) => `${session.info.name}/${node}`);
    }),
  );
  return { restarted: answers.flat() };
}
