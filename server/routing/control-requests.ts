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
  listSlaves,
  ping,
  restart,
  run,
  status,
  watch,
} from "../../shared/protocol/messages.js";
import type { SlaveRegistry } from "../sessions/registry.js";
import { serveTests, type TestContext } from "../testing/serve-tests.js";

/** What serving a control needs: the slaves, the watchers, the command routes, and the test suites. */
export type ControlContext = TestContext;

/** Who is asking: the control as the log names it. */
type Caller = () => string;

type LocalHandler = (data: Record<string, unknown>) => Record<string, unknown> | Promise<Record<string, unknown>>;

/**
 * Serves a control's requests. A request whose definition says
 * `forwardToSlave` and that names `data.slave` is relayed to that slave and
 * its answer comes back under the control's seq; without a slave it is
 * answered here, if the master has an answer of its own.
 */
export function serveControl(link: Link, context: ControlContext, caller: Caller): void {
  const { registry, watchers, routes } = context;
  link.onRequest(listSlaves, () => ({ slaves: registry.list() }));
  link.onRequest(status, ({ slave }) => {
    const sessions = slave === undefined ? registry.sessions() : [registry.find(slave)];
    return { trees: sessions.map((session) => session.tree) };
  });
  link.onRequest(watch, () => {
    watchers.add(link);
    return {};
  });
  link.onRequest(commands, () => ({ commands: routes.list() }));

  const answeredByMaster = new Map<string, LocalHandler>([
    [ping.type, () => ({})],
    [restart.type, (data) => restartEverywhere(registry, data)],
  ]);
  const commandLine = new Map<string, (data: Record<string, unknown>) => string[]>([
    [run.type, (data) => [data.command as string, ...(data.args as string[])]],
    [exec.type, (data) => [data.program as string, ...(data.args as string[])]],
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
      routes.open(id, link, session, argv, { kind: definition.type, caller: caller() });
      return session.link.request(definition as RequestDefinition, data as never).catch((error: unknown) => {
        routes.discard(id);
        throw error;
      });
    });
  }

  for (const definition of [commandInputEvent, commandAckEvent, commandResizeEvent, commandSignalEvent]) {
    link.onEvent(definition, (data) => routes.fromControl(link, definition, data));
  }
  link.onBytes((frame, raw) => routes.bytesFromControl(link, frame, raw));
  serveTests(link, context);
}

/** `restart` without a slave: every slave restarts; the answer names `slave/node`. */
async function restartEverywhere(registry: SlaveRegistry, data: Record<string, unknown>) {
  const answers = await Promise.all(
    registry.sessions().map(async (session) => {
      const { restarted } = await session.link.request(restart, { ...data, slave: session.info.name });
      return restarted.map((node) => `${session.info.name}/${node}`);
    }),
  );
  return { restarted: answers.flat() };
}
