import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { RequestDefinition, ResponseOf } from "../../shared/protocol/definitions.js";
import { ProtocolError, RequestTimeoutError } from "../../shared/protocol/errors.js";
import { Link, type LinkOptions } from "../../shared/protocol/link.js";
import type { SlaveInfo, SlaveTree } from "../../shared/protocol/messages.js";
import type * as z from "../../shared/protocol/zod.js";
import type { Logger } from "../../shared/runtime/log.js";
import { type ControlContext, serveControl } from "../routing/control-requests.js";
import { serveSlave } from "../routing/slave-events.js";
import type { SlaveSession } from "../sessions/registry.js";
import { FrameBatches, framesOf } from "./frame-batches.js";
import { toSlaveSubject, toSlaveWildcard, tunnelOf, tunnelOwner, tunnelSubject } from "./names.js";

export interface TunnelContext extends ControlContext {
  nats: NatsConnection;
  /** This master's id in the federation. */
  masterId: string;
  requestTimeoutMs: number;
  /** How long the controls of a master that died have to resume their commands elsewhere before these are hung up. */
  sessionTimeoutMs: number;
  log: Logger;
}

/** The slave's side of a tunnel: a request that times out says where the silence is. */
class TunnelLink extends Link {
  constructor(
    private readonly slave: string,
    options: LinkOptions,
  ) {
    super(options);
  }

  override request<D extends RequestDefinition>(
    definition: D,
    data: z.input<D["request"]>,
    timeoutMs?: number,
  ): Promise<ResponseOf<D>> {
    return super.request(definition, data, timeoutMs).catch((error: unknown) => {
      if (!(error instanceof RequestTimeoutError)) throw error;
      throw new RequestTimeoutError(`slave ${this.slave} is on a master that stopped answering (${error.message})`);
    });
  }
}

/**
 * Links between masters, one per (master, remote slave), carried over NATS.
 * The master a control is on holds the slave's side of the Link: a
 * SlaveSession like a local slave's, so routing needs no second path. The
 * master the slave is on holds the control's side and serves it as it
 * serves any control, so requests, command streams and their
 * acknowledgements cross unchanged and flow control stays end to end.
 */
export class Tunnels {
  /** Tunnels this master opened, by tunnel id. */
  private readonly outbound = new Map<string, Link>();
  /** Tunnels other masters opened to this master's slaves, by tunnel id. */
  private readonly inbound = new Map<string, Link>();
  /** This master's slaves that other masters may reach. */
  private readonly served = new Map<string, Subscription>();
  private readonly replies: Subscription;
  private readonly batches = new FrameBatches((subject, payload) => this.send(subject, payload));
  private nextTunnel = 1;
  /** Bytes of frames to and from other masters. */
  readonly traffic = { bytes_in: 0, bytes_out: 0 };

  constructor(private readonly context: TunnelContext) {
    this.replies = context.nats.subscribe(tunnelSubject(`${context.masterId}.>`), {
      callback: (error, message) => {
        if (error !== null) return context.log(`federation: tunnel replies: ${error.message}`);
        const link = this.outbound.get(message.subject.split(".").slice(2).join("."));
        if (link !== undefined) this.feed(link, message.string());
      },
    });
  }

  /** A session for a slave on another master (by id): what this master's routing sees of it. */
  open(info: SlaveInfo, tree: SlaveTree, masterId: string, onClosed: () => void): SlaveSession {
    const { watchers, routes, requestTimeoutMs, log } = this.context;
    const tunnel = `${this.context.masterId}.${this.nextTunnel++}`;
    const subject = toSlaveSubject(info.name, masterId, tunnel);
    const link = new TunnelLink(info.name, {
      send: (frame) => this.publish(subject, frame),
      localRole: "master",
      peerRole: "slave",
      requestTimeoutMs,
      log: (line) => log(`federation: slave ${info.name} on ${info.master}: ${line}`),
    });
    this.outbound.set(tunnel, link);
    const session: SlaveSession = {
      info,
      link,
      tree,
      close: (reason) => {
        if (!this.outbound.delete(tunnel)) return;
        // The slave's own session is elsewhere: its commands run on, to be resumed through its new master.
        routes.slaveClosed(session, reason, true);
        link.connectionLost(reason);
        onClosed();
      },
    };
    serveSlave(link, session, watchers, routes, this.context.timeline);
    return session;
  }

  /** Lets other masters reach this master's slave `name`. */
  serve(name: string): void {
    if (this.served.has(name)) return;
    const subscription = this.context.nats.subscribe(toSlaveWildcard(name, this.context.masterId), {
      callback: (error, message) => {
        if (error !== null) return this.context.log(`federation: slave ${name}: ${error.message}`);
        const tunnel = tunnelOf(message.subject);
        this.feed(this.inbound.get(tunnel) ?? this.accept(tunnel), message.string());
      },
    });
    this.served.set(name, subscription);
  }

  unserve(name: string): void {
    this.served.get(name)?.unsubscribe();
    this.served.delete(name);
  }

  /**
   * A master is gone: the commands it relayed get a hangup, as when a control
   * goes away, but a session timeout later, as for a control whose socket
   * dropped: their controls may resume them meanwhile through another master.
   */
  masterGone(masterId: string): void {
    for (const [tunnel, link] of this.inbound) {
      if (tunnelOwner(tunnel) !== masterId) continue;
      this.inbound.delete(tunnel);
      this.context.watchers.remove(link);
      link.connectionLost(`master ${masterId} is gone`);
      setTimeout(() => this.context.routes.controlClosed(link), this.context.sessionTimeoutMs).unref();
    }
  }

  get size(): number {
    return this.outbound.size + this.inbound.size;
  }

  stop(reason: string): void {
    this.replies.unsubscribe();
    for (const subscription of this.served.values()) subscription.unsubscribe();
    this.served.clear();
    for (const link of this.inbound.values()) this.close(link, reason);
    this.inbound.clear();
    for (const link of this.outbound.values()) link.connectionLost(reason);
    this.outbound.clear();
    this.batches.flush();
  }

  /** Another master's first frame for this tunnel: its control side, served like a control's. */
  private accept(tunnel: string): Link {
    const { log } = this.context;
    const subject = tunnelSubject(tunnel);
    const link = new Link({
      send: (frame) => this.publish(subject, frame),
      localRole: "master",
      peerRole: "control",
      log: (line) => log(`federation: tunnel ${tunnel}: ${line}`),
    });
    serveControl(link, "a control on another master", this.context, () => `tunnel ${tunnel}`);
    this.inbound.set(tunnel, link);
    return link;
  }

  private close(link: Link, reason: string): void {
    this.context.watchers.remove(link);
    this.context.routes.controlClosed(link);
    link.connectionLost(reason);
  }

  private feed(link: Link, payload: string): void {
    this.traffic.bytes_in += payload.length;
    for (const frame of framesOf(payload)) {
      try {
        link.receive(frame);
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        this.context.log(`federation: dropped a frame: ${error.message}`);
      }
    }
  }

  /** Tunnel Links never take the binary_frames extension, so every frame they write is text. */
  private publish(subject: string, frame: string | Buffer): void {
    this.batches.add(subject, frame.toString());
  }

  private send(subject: string, payload: string): void {
    this.traffic.bytes_out += payload.length;
    try {
      this.context.nats.publish(subject, payload);
    } catch (error) {
      this.context.log(`federation: cannot publish on ${subject}: ${(error as Error).message}`);
    }
  }
}
