import type { RequestDefinition } from "../shared/definitions.js";
import type { Link } from "../shared/link.js";
import { catalogue, listSlaves, ping } from "../shared/messages.js";
import type { SlaveRegistry } from "./registry.js";

type LocalHandler = (data: unknown) => Record<string, unknown>;

/**
 * Serves a control's requests. A request whose definition says
 * `forwardToSlave` and that names `data.slave` is relayed to that slave and
 * its answer comes back under the control's seq; without a slave it is
 * answered here, if the master has an answer of its own.
 */
export function serveControl(link: Link, registry: SlaveRegistry): void {
  link.onRequest(listSlaves, () => ({ slaves: registry.list() }));

  const answeredByMaster = new Map<string, LocalHandler>([[ping.type, () => ({})]]);
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
