import type { EventDefinition } from "../../shared/protocol/definitions.js";
import type { Link } from "../../shared/protocol/link.js";
import type * as z from "../../shared/protocol/zod.js";

export type WatcherListener = (definition: EventDefinition, data: unknown) => void;

/** Controls that asked to watch; each gets every tree, node state and slave event. */
export class Watchers {
  private readonly links = new Set<Link>();
  private readonly listeners: WatcherListener[] = [];

  /** Sees every broadcast, as a watching control would (the federation shares the slaves' state this way). */
  listen(listener: WatcherListener): void {
    this.listeners.push(listener);
  }

  add(link: Link): void {
    if (!link.closed) this.links.add(link);
  }

  remove(link: Link): void {
    this.links.delete(link);
  }

  broadcast<D extends EventDefinition>(definition: D, data: z.input<D["data"]>): void {
    for (const link of this.links) if (!link.closed) link.event(definition, data);
    for (const listener of this.listeners) listener(definition, data);
  }
}
