import type { Link } from "../../shared/protocol/link.js";
import type { SlaveInfo, SlaveTree } from "../../shared/protocol/messages.js";

export interface SlaveSession {
  info: SlaveInfo;
  link: Link;
  /** The latest tree the agent reported. */
  tree: SlaveTree;
  /** Ends the session: `close {reason}` then the socket. */
  close(reason: string): void;
}

/** Slaves connected to other masters of a federation, consulted after this master's own. */
export interface SlavesElsewhere {
  /** This master's slaves, marked as its own, and every other master's. */
  list(local: SlaveInfo[]): SlaveInfo[];
  find(selector: string): SlaveSession | undefined;
  trees(): SlaveTree[];
  /** The slave of that name on another master, if one is connected there now. */
  holder(name: string): SlaveInfo | undefined;
}

/** The slaves connected now, by name (a registration claims its name first: see claimSlaveName). */
export class SlaveRegistry {
  private readonly byName = new Map<string, SlaveSession>();
  /** The same sessions by id, as a string: a lookup that misses both maps goes on to other masters at no cost per slave here. */
  private readonly byId = new Map<string, SlaveSession>();
  private readonly removalListeners = new Set<(session: SlaveSession) => void>();

  /** Calls `listener` each time a slave leaves (its socket dropped or its session ended); returns its removal. */
  onRemoved(listener: (session: SlaveSession) => void): () => void {
    this.removalListeners.add(listener);
    return () => this.removalListeners.delete(listener);
  }
  /** Set when the master is federated (`--nats`). */
  elsewhere: SlavesElsewhere | null = null;

  /** Adds a slave; one already connected with the same name is replaced. */
  add(session: SlaveSession): void {
    const previous = this.byName.get(session.info.name);
    if (previous !== undefined) this.byId.delete(String(previous.info.id));
    this.byName.set(session.info.name, session);
    this.byId.set(String(session.info.id), session);
    if (previous !== session) previous?.close("replaced by a new connection");
  }

  /** Removes the session only if it is still the current one for its name; says whether it was. */
  remove(session: SlaveSession): boolean {
    if (this.byName.get(session.info.name) !== session) return false;
    this.byName.delete(session.info.name);
    if (this.byId.get(String(session.info.id)) === session) this.byId.delete(String(session.info.id));
    for (const listener of [...this.removalListeners]) listener(session);
    return true;
  }

  get size(): number {
    return this.byName.size;
  }

  sessions(): SlaveSession[] {
    return [...this.byName.values()];
  }

  list(): SlaveInfo[] {
    const local = this.sessions().map((session) => session.info);
    return this.elsewhere === null ? local : this.elsewhere.list(local);
  }

  /** The latest tree of every slave, here and elsewhere. */
  trees(): SlaveTree[] {
    const local = this.sessions().map((session) => session.tree);
    return this.elsewhere === null ? local : [...local, ...this.elsewhere.trees()];
  }

  /** Finds a slave by name, or by id written as a string. */
  find(selector: string): SlaveSession {
    const local = this.byName.get(selector) ?? this.byId.get(selector);
    if (local !== undefined) return local;
    const remote = this.elsewhere?.find(selector);
    if (remote !== undefined) return remote;
    throw new Error(`no slave named ${JSON.stringify(selector)} is connected`);
  }

  closeAll(reason: string): void {
    for (const session of this.byName.values()) session.close(reason);
  }
}
