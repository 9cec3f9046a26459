import type { KV, KvEntry } from "@nats-io/kv";
import type { EventDefinition } from "../../shared/protocol/definitions.js";
import {
  nodeStateEvent,
  type SlaveInfo,
  type SlaveTree,
  slaveEvent,
  slaveInfo,
  slaveTree,
  treeEvent,
} from "../../shared/protocol/messages.js";
import * as z from "../../shared/protocol/zod.js";
import type { Logger } from "../../shared/runtime/log.js";
import type { SlaveRegistry, SlaveSession, SlavesElsewhere } from "../sessions/registry.js";
import type { Watchers } from "../sessions/watchers.js";
import { decodeName, masterKey, slaveKey } from "./names.js";
import type { Tunnels } from "./tunnels.js";

const masterEntry = z.object({ url: z.string() });
const slaveEntry = z.object({ master_id: z.string(), info: slaveInfo(), tree: slaveTree() });
type SlaveEntry = z.infer<typeof slaveEntry>;

interface RemoteSlave {
  entry: SlaveEntry;
  revision: number;
  /** Opened on first use, closed when the slave leaves or moves. */
  session: SlaveSession | null;
}

export interface FleetContext {
  kv: KV;
  masterId: string;
  /** This master's URL, as slaves and controls reach it. */
  url: string;
  registry: SlaveRegistry;
  watchers: Watchers;
  tunnels: Tunnels;
  /** A master whose lease is older than this is gone, and its slaves with it. */
  leaseMs: number;
  log: Logger;
}

/** How long a slave's tree changes gather before its entry is written again. */
const TREE_WRITE_DELAY_MS = 50;
/** A slave's entry whose write failed is written again after about this long (jittered, as a burst fails together). */
const PUBLISH_RETRY_MS = 1000;

/**
 * The shared registry, in a JetStream key-value bucket: each master writes
 * its own slaves (info and latest tree) and renews its lease; every master
 * watches the bucket, so it knows every slave and where it is connected,
 * and drops the slaves of a master whose lease lapsed.
 */
export class Fleet implements SlavesElsewhere {
  private readonly remote = new Map<string, RemoteSlave>();
  /** Other masters, by id: their URL and when their lease was last renewed (local clock). */
  private readonly masters = new Map<string, { url: string; renewedAt: number }>();
  private readonly pendingTrees = new Map<string, NodeJS.Timeout>();
  private readonly writes = new Set<Promise<unknown>>();
  /** True while this master relays other masters' changes to its own watchers. */
  private relaying = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private stopped = false;
  /** False while NATS is unreachable: failed writes are expected then, and said once by the federation. */
  online = true;
  private stopWatch = () => {};

  constructor(private readonly context: FleetContext) {
    context.watchers.listen((definition, data) => {
      if (!this.relaying) this.onLocalChange(definition, data);
    });
  }

  /** Writes the lease and the slaves already here, then follows the bucket. */
  async start(): Promise<void> {
    this.republish();
    const watch = await this.context.kv.watch();
    void (async () => {
      for await (const entry of watch) this.onEntry(entry);
    })().catch((error: Error) => this.context.log(`federation: watching the registry failed: ${error.message}`));
    this.timers.push(
      setInterval(() => void this.renewLease(), this.context.leaseMs / 4),
      setInterval(() => this.expireMasters(), this.context.leaseMs / 4),
    );
    this.stopWatch = () => watch.stop();
  }

  /** The lease and every slave of this master, written again (at start, and when NATS comes back). */
  republish(): void {
    void this.renewLease();
    for (const session of this.context.registry.sessions()) this.publish(session.info.name);
  }

  list(local: SlaveInfo[]): SlaveInfo[] {
    const here = new Set(local.map((info) => info.name));
    const mine = local.map((info) => ({ ...info, master: this.context.url }));
    const theirs = [...this.remote.values()].filter(({ entry }) => !here.has(entry.info.name));
    return [...mine, ...theirs.map(({ entry }) => entry.info)];
  }

  find(selector: string): SlaveSession | undefined {
    const remote =
      this.remote.get(selector) ?? [...this.remote.values()].find(({ entry }) => String(entry.info.id) === selector);
    if (remote === undefined) return undefined;
    const { info, tree, master_id } = remote.entry;
    remote.session ??= this.context.tunnels.open(info, tree, master_id, () => {
      remote.session = null;
    });
    return remote.session;
  }

  trees(): SlaveTree[] {
    return [...this.remote.values()].map(({ entry }) => entry.tree);
  }

  holder(name: string): SlaveInfo | undefined {
    return this.remote.get(name)?.entry.info;
  }

  /** Masters with a live lease, this one included. */
  get masterCount(): number {
    return this.masters.size + 1;
  }

  /** Takes this master's slaves and lease out of the bucket. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    for (const timer of this.pendingTrees.values()) clearTimeout(timer);
    this.stopWatch();
    await Promise.allSettled([...this.writes]);
    const { kv, registry, masterId } = this.context;
    await Promise.allSettled([
      kv.delete(masterKey(masterId)),
      ...registry.sessions().map((session) => kv.delete(slaveKey(session.info.name))),
    ]);
  }

  /** Every broadcast on this master: its own slaves' comings, goings and trees go to the bucket. */
  private onLocalChange(definition: EventDefinition, data: unknown): void {
    if (definition.type === slaveEvent.type) {
      const { slave, connected } = data as z.infer<typeof slaveEvent.data>;
      if (connected) {
        this.context.tunnels.serve(slave.name);
        this.publish(slave.name);
      } else {
        this.context.tunnels.unserve(slave.name);
        this.unpublish(slave.name);
      }
    } else if (definition.type === treeEvent.type || definition.type === nodeStateEvent.type) {
      const name = (data as { slave?: string }).slave;
      if (name === undefined || this.pendingTrees.has(name)) return;
      this.pendingTrees.set(
        name,
        setTimeout(() => {
          this.pendingTrees.delete(name);
          this.publish(name);
        }, TREE_WRITE_DELAY_MS),
      );
    }
  }

  private local(name: string): SlaveSession | undefined {
    return this.context.registry.sessions().find((session) => session.info.name === name);
  }

  private publish(name: string): void {
    const session = this.local(name);
    if (session === undefined || this.stopped) return;
    const entry: SlaveEntry = {
      master_id: this.context.masterId,
      info: { ...session.info, master: this.context.url },
      tree: { ...session.tree, slave: name },
    };
    const written = this.context.kv.put(slaveKey(name), JSON.stringify(entry));
    this.write(
      written.catch((error: Error) => {
        // Else the slave stays unseen by the other masters until its tree changes. Offline, republish() covers it.
        if (this.online) setTimeout(() => this.publish(name), PUBLISH_RETRY_MS * (0.5 + Math.random())).unref();
        throw error;
      }),
    );
  }

  /** Deletes the slave's entry unless another master wrote it since (the slave moved there). */
  private unpublish(name: string): void {
    if (this.stopped) return;
    const { kv, masterId } = this.context;
    this.write(
      kv.get(slaveKey(name)).then((current) => {
        if (current === null || current.operation !== "PUT") return;
        if (parse(slaveEntry, current)?.master_id !== masterId) return;
        return kv.delete(slaveKey(name), { previousSeq: current.revision });
      }),
    );
  }

  private renewLease(): Promise<unknown> {
    const { kv, masterId, url } = this.context;
    const written = kv.put(masterKey(masterId), JSON.stringify({ url }));
    this.write(written);
    return written.catch(() => {});
  }

  private write(promise: Promise<unknown>): void {
    const tracked = promise.catch((error: Error) => {
      if (this.online) this.context.log(`federation: registry write: ${error.message}`);
    });
    this.writes.add(tracked);
    void tracked.finally(() => this.writes.delete(tracked));
  }

  private onEntry(entry: KvEntry): void {
    const [kind, id] = entry.key.split(".", 2) as [string, string];
    if (kind === "master") {
      if (id === this.context.masterId) return;
      if (entry.operation !== "PUT") return this.masterGone(id);
      const master = parse(masterEntry, entry);
      if (master !== null) this.masters.set(id, { url: master.url, renewedAt: Date.now() });
      return;
    }
    if (kind !== "slave") return;
    // Another master took this one for gone (its lease looked lapsed) and tidied a slave that is still here.
    if (entry.operation !== "PUT" && this.local(decodeName(id)) !== undefined) return this.publish(decodeName(id));
    const value = entry.operation === "PUT" ? parse(slaveEntry, entry) : null;
    if (value === null || value.master_id === this.context.masterId)
      return this.drop(decodeName(id), `slave ${decodeName(id)} left its master`);
    if (this.local(value.info.name) !== undefined) void this.settleName(value.info.name);
    if (!this.masters.has(value.master_id))
      this.masters.set(value.master_id, { url: value.info.master ?? "", renewedAt: Date.now() });
    const previous = this.remote.get(value.info.name);
    if (previous !== undefined && previous.entry.master_id !== value.master_id)
      this.drop(value.info.name, `slave ${value.info.name} moved to ${value.info.master}`);
    const kept = this.remote.get(value.info.name);
    if (kept !== undefined) {
      kept.entry = value;
      kept.revision = entry.revision;
      if (kept.session !== null) kept.session.tree = value.tree;
    } else {
      this.remote.set(value.info.name, { entry: value, revision: entry.revision, session: null });
      this.relay(slaveEvent, { slave: value.info, connected: true });
    }
    this.relay(treeEvent, value.tree);
  }

  /**
   * Another master wrote the entry of a slave connected here: the agent
   * moved there, took the name with --replace, or two agents claimed it at
   * once. The bucket's latest entry, read once this master's own writes
   * have settled, decides: the last writer keeps the name.
   */
  private async settleName(name: string): Promise<void> {
    await Promise.allSettled([...this.writes]);
    const latest = await this.context.kv.get(slaveKey(name)).catch(() => null);
    const value = latest?.operation === "PUT" ? parse(slaveEntry, latest) : null;
    const local = this.local(name);
    if (value === null || value.master_id === this.context.masterId || local === undefined) return;
    local.close(`replaced by a slave of the same name on ${value.info.master}`);
    if (this.remote.has(name)) this.relay(slaveEvent, { slave: value.info, connected: true });
  }

  /** Masters whose lease lapsed are gone, and so are their slaves. */
  private expireMasters(): void {
    const now = Date.now();
    for (const [id, master] of this.masters)
      if (now - master.renewedAt > this.context.leaseMs) {
        this.context.log(`federation: master ${master.url} (${id}) stopped renewing its lease; its slaves are gone`);
        this.masterGone(id);
      }
  }

  private masterGone(id: string): void {
    this.masters.delete(id);
    this.context.tunnels.masterGone(id);
    for (const [name, remote] of this.remote) {
      if (remote.entry.master_id !== id) continue;
      this.drop(name, `slave ${name} is on a master that stopped answering`);
      // Tidy the bucket for masters that start later; a newer entry (the slave moved) is left alone.
      this.write(this.context.kv.delete(slaveKey(name), { previousSeq: remote.revision }));
    }
  }

  private drop(name: string, reason: string): void {
    const remote = this.remote.get(name);
    if (remote === undefined) return;
    this.remote.delete(name);
    remote.session?.close(reason);
    this.relay(slaveEvent, { slave: remote.entry.info, connected: false });
  }

  private relay<D extends EventDefinition>(definition: D, data: z.input<D["data"]>): void {
    this.relaying = true;
    try {
      this.context.watchers.broadcast(definition, data);
    } finally {
      this.relaying = false;
    }
  }
}

/** An entry's value if it holds JSON that fits the schema, else null: the bucket is shared, so nothing is taken on trust. */
export function parse<T>(schema: z.ZodMiniType<T>, entry: KvEntry): T | null {
  try {
    const result = schema.safeParse(entry.json());
    return result.success ? result.data : null;
  } catch {
    return null;
  }
}
