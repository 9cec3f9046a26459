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

/** The slaves connected now, by name (a registration claims its name first: see claimSlaveName). */
export class SlaveRegistry {
  private readonly byName = new Map<string, SlaveSession>();
  private readonly removalListeners = new Set<(session: SlaveSession) => void>();

  /** Calls `listener` each time a slave leaves (its socket dropped or its session ended); returns its removal. */
  onRemoved(listener: (session: SlaveSession) => void): () => void {
    this.removalListeners.add(listener);
    return () => this.removalListeners.delete(listener);
  }

  /** Adds a slave; one already connected with the same name is replaced. */
  add(session: SlaveSession): void {
    const previous = this.byName.get(session.info.name);
    this.byName.set(session.info.name, session);
    if (previous !== session) previous?.close("replaced by a new connection");
  }

  /** Removes the session only if it is still the current one for its name; says whether it was. */
  remove(session: SlaveSession): boolean {
    if (this.byName.get(session.info.name) !== session) return false;
    this.byName.delete(session.info.name);
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
    return this.sessions().map((session) => session.info);
  }

  /** Finds a slave by name, or by id written as a string. */
  find(selector: string): SlaveSession {
    const named = this.byName.get(selector);
    if (named !== undefined) return named;
    for (const session of this.byName.values()) if (String(session.info.id) === selector) return session;
    throw new Error(`no slave named ${JSON.stringify(selector)} is connected`);
  }

  closeAll(reason: string): void {
    for (const session of this.byName.values()) session.close(reason);
  }
}
