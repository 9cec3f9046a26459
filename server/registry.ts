import type { Link } from "../shared/link.js";
import type { SlaveInfo, SlaveTree } from "../shared/messages.js";

export interface SlaveSession {
  info: SlaveInfo;
  link: Link;
  /** The latest tree the agent reported. */
  tree: SlaveTree;
  /** Ends the session: `close {reason}` then the socket. */
  close(reason: string): void;
}

/** The slaves connected now, by id. */
export class SlaveRegistry {
  private readonly byId = new Map<number, SlaveSession>();

  /** Adds a slave; one already connected with the same id is replaced. */
  add(session: SlaveSession): void {
    const previous = this.byId.get(session.info.id);
    this.byId.set(session.info.id, session);
    previous?.close("replaced by a new connection");
  }

  /** Removes the session only if it is still the current one for its id; says whether it was. */
  remove(session: SlaveSession): boolean {
    return this.byId.get(session.info.id) === session && this.byId.delete(session.info.id);
  }

  get size(): number {
    return this.byId.size;
  }

  sessions(): SlaveSession[] {
    return [...this.byId.values()];
  }

  list(): SlaveInfo[] {
    return this.sessions().map((session) => session.info);
  }

  /** Finds a slave by name, or by id written as a string. */
  find(selector: string): SlaveSession {
    for (const session of this.byId.values()) {
      if (session.info.name === selector || String(session.info.id) === selector) return session;
    }
    throw new Error(`no slave named ${JSON.stringify(selector)} is connected`);
  }

  closeAll(reason: string): void {
    for (const session of this.byId.values()) session.close(reason);
  }
}
