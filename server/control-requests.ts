import type { RequestDefinition } from "../shared/definitions.js";
import type { Link } from "../shared/link.js";
import { catalogue, listSlaves, ping, restart, status, watch } from "../shared/messages.js";
import type { SlaveRegistry } from "./registry.js";
import type { Watchers } from "./watchers.js";

type LocalHandler = (data: Record<string, unknown>) => Record<string, unknown> | Promise<Record<string, unknown>>;

/**
 * Serves a control's requests. A request whose definition says
 * `forwardToSlave` and that names `data.slave` is relayed to that slave and
 * its answer comes back under the control's seq; without a slave it is
 * answered here, if the master has an answer of its own.
 */
export function serveControl(link: Link, registry: SlaveRegistry, watchers: Watchers): void {
  link.onRequest(listSlaves, () => ({ slaves: registry.list() }));
  link.onRequest(status, ({ slave }) => {
    const sessions = slave === undefined ? registry.sessions() : [registry.find(slave)];
    return { trees: sessions.map((session) => session.tree) };
  });
  link.onRequest(watch, () => {
    watchers.add(link);
    return {};
  });

  const answeredByMaster = new Map<string, LocalHandler>([
    [ping.type, () => ({})],
    [restart.type, (data) => restartEverywhere(registry, data)],
  ]);
  for (const definition of catalogue) {
    if (definition.kind !== "request" || !definition.forwardToSlave) continue;
    link.onRequest(definition, (data) => {
      const { slave } = data as { slave?: string };
      if (slave !== undefined) return registry.find(slave).link.request(definition as RequestDefinition, data as never);
      const local = answeredByMaster.get(definition.type);
      if (local === undefined) throw new Error(`${definition.type} needs data.slave naming a connected slave`);
      return local(data);
    });
  }
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
