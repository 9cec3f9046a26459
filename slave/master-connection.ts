import { createHash } from "node:crypto";
import type { Link } from "../shared/protocol/link.js";
import { ping } from "../shared/protocol/messages.js";
import { ConnectError, connect, type Session } from "../shared/runtime/connect.js";
import type { Logger } from "../shared/runtime/log.js";
import type { FrameSocket } from "../shared/runtime/memory-socket.js";

export const AGENT_NAME = "Olympus slave agent";

export interface MasterConnectionOptions {
  /** Masters to try in this order, on every (re)connection. */
  urls: string[];
  token: string;
  /** Trusted besides the system's CAs, for a wss:// master. */
  ca?: Buffer;
  name: string;
  id: number;
  /** Take the name from another agent connected under it (the first registration only). */
  replace?: boolean;
  /** Opens each connection in this process instead of a WebSocket (see memory-socket.ts). */
  openSocket?: () => FrameSocket;
  /** Registers this agent's handlers on every new session. */
  setup?: (link: Link) => void;
  /** Called once each new session is ready. */
  onConnected?: (link: Link) => void;
  /** A session's connection stayed lost past the session timeout: the master has forgotten it and its commands. */
  onSessionExpired?: () => void;
  /** The master refused us (bad token, wrong version): retrying will not help. */
  onRefused: (reason: string) => void;
  log: Logger;
}

const FIRST_RETRY_MS = 250;
/** Short enough that agents are back within about a second of a master restart. */
const MAX_RETRY_MS = 1_000;

/** A stable id for a slave name: the default `--id`, the same across restarts. */
export function idForName(name: string): number {
  return createHash("sha256").update(name).digest().readUInt32BE(0) >>> 1;
}

/** Keeps one session with the master, reconnecting with jittered exponential backoff. */
export class MasterConnection {
  private session: Session | null = null;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private failures = 0;
  /** Once registered, a later registration never takes the name back: two agents told to replace would take turns forever. */
  private replace: boolean;

  constructor(private readonly options: MasterConnectionOptions) {
    this.replace = options.replace === true;
  }

  get link(): Link | null {
    return this.session?.link ?? null;
  }

  /** The master's URL the session is on now (one of the list, for failover). */
  get url(): string | null {
    return this.session?.url ?? null;
  }

  start(): void {
    void this.attempt();
  }

  stop(reason: string): void {
    this.stopped = true;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.session?.close(reason);
  }

  private async attempt(): Promise<void> {
    const { urls, token, ca, name, id, log } = this.options;
    try {
      this.session = await connect({
        urls,
        token,
        ca,
        openSocket: this.options.openSocket,
        agent: AGENT_NAME,
        registration: { role: "slave", name, id, replace: this.replace },
        setup: (link) => {
          link.onRequest(ping, () => ({}));
          this.options.setup?.(link);
        },
        log,
      });
    } catch (error) {
      if (error instanceof ConnectError && error.refused) return this.options.onRefused(error.message);
      return this.retry((error as Error).message);
    }
    if (this.stopped) return this.session.close("agent stopping");
    this.failures = 0;
    this.replace = false;
    log(`connected to ${this.session.url} as ${name} (id ${id})`);
    this.options.onConnected?.(this.session.link);
    const session = this.session;
    const reason = await session.ended;
    this.session = null;
    if (this.stopped) return;
    if (session.expired) this.options.onSessionExpired?.();
    this.retry(reason);
  }

  private retry(reason: string): void {
    if (this.stopped) return;
    const ceiling = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** this.failures++);
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    this.options.log(
      `master ${this.options.urls.join(",")} unavailable (${reason}); reconnecting in ${(delay / 1000).toFixed(1)} s`,
    );
    this.retryTimer = setTimeout(() => void this.attempt(), delay);
  }
}
