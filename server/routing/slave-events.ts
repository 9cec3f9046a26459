import type { Link } from "../../shared/protocol/link.js";
import {
  commandAckEvent,
  commandExitEvent,
  commandOutputEvent,
  commandResumedEvent,
  nodeStateEvent,
  treeEvent,
} from "../../shared/protocol/messages.js";
import type { SlaveSession } from "../sessions/registry.js";
import type { Watchers } from "../sessions/watchers.js";
import type { CommandRoutes } from "./command-routes.js";
import type { NodeTimeline } from "./node-timeline.js";

/**
 * Keeps a slave's latest tree from its events, passes every change on to
 * watchers and the timeline, and routes command events.
 */
export function serveSlave(
  link: Link,
  session: SlaveSession,
  watchers: Watchers,
  routes: CommandRoutes,
  timeline: NodeTimeline,
): void {
  for (const definition of [commandOutputEvent, commandAckEvent, commandExitEvent, commandResumedEvent]) {
    link.onEvent(definition, (data) => routes.fromSlave(session, definition, data));
  }
  link.onBytes((frame, raw) => routes.bytesFromSlave(session, frame, raw));
  const slave = session.info.name;
  link.onEvent(treeEvent, ({ nodes, commands }) => {
    session.tree = { slave, nodes, commands };
    watchers.broadcast(treeEvent, session.tree);
  });
  link.onEvent(nodeStateEvent, ({ node }) => {
    const nodes = session.tree.nodes;
    const index = nodes.findIndex((known) => known.name === node.name);
    if (index >= 0) nodes[index] = node;
    else nodes.push(node);
    timeline.record(slave, node);
    watchers.broadcast(nodeStateEvent, { slave, node });
  });
}
