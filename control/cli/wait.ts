import { nodeStateEvent, type SlaveTree, slaveEvent, treeEvent } from "../../shared/protocol/messages.js";
import type { OlympusClient } from "../client/client.js";

/** How `control status --wait` ends: every phase ready, or one crashed. */
export type Settled = { trees: SlaveTree[]; crashed: string[] };

/**
 * Waits until every phase of the slave (or of every connected slave) is
 * ready, or one has crashed, re-reading the trees on each change the master
 * reports. A slave not connected yet, or whose tree has not come yet, is
 * waited for.
 */
export function waitUntilSettled(
  client: OlympusClient,
  slave: string | undefined,
  timeoutMs: number,
): Promise<Settled> {
  return new Promise((resolve, reject) => {
    let waitingFor = slave === undefined ? "a slave to connect" : `slave ${slave} to connect`;
    let reading = false;
    let changedMeanwhile = false;
    const timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs / 1000} s waiting for ${waitingFor}`)),
      timeoutMs,
    );
    const check = async (): Promise<void> => {
      if (reading) {
        changedMeanwhile = true;
        return;
      }
      reading = true;
      let trees: SlaveTree[] = [];
      do {
        changedMeanwhile = false;
        // Not connected (yet): the slave event that brings it checks again.
        trees = await client.status(slave).catch(() => []);
      } while (changedMeanwhile);
      reading = false;
      const nodes = trees.flatMap((tree) => tree.nodes.map((node) => ({ ...node, at: `${tree.slave}/${node.name}` })));
      const crashed = nodes.filter((node) => node.state === "crashed").map((node) => node.at);
      const pending = nodes.filter((node) => node.state !== "ready").map((node) => `${node.at} (${node.state})`);
      const reported = trees.length > 0 && trees.every((tree) => tree.nodes.length > 0);
      if (crashed.length > 0 || (reported && pending.length === 0)) {
        clearTimeout(timer);
        return resolve({ trees, crashed });
      }
      if (reported) waitingFor = pending.join(", ");
      else if (trees.length > 0) waitingFor = `the process tree of ${trees.map((tree) => tree.slave).join(", ")}`;
    };
    for (const definition of [treeEvent, nodeStateEvent, slaveEvent])
      client.link.onEvent(definition, () => void check());
    void client.ended.then((reason) => {
      clearTimeout(timer);
      reject(new Error(reason));
    });
    client.watch().then(check, (error: unknown) => {
      clearTimeout(timer);
      reject(error as Error);
    });
  });
}
