import type { FastifyInstance } from "fastify";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { BINARY_FRAME_TYPE } from "../../shared/protocol/binary-frame.js";
import { catalogue, commandInputEvent, commandOutputEvent, nodeStates } from "../../shared/protocol/messages.js";
import { type Authenticator, requireBearer } from "../auth/auth.js";
import type { LinkObserver } from "../sessions/master-session.js";
import { countControls, type PeerConnection } from "../sessions/peer-connection.js";
import type { SlaveRegistry } from "../sessions/registry.js";

export interface MetricSources {
  registry: SlaveRegistry;
  peers: Set<PeerConnection>;
  /** Commands (run and exec) running now. */
  countRunningCommands: () => number;
}

/** Every type in the catalogue, and the response types; anything else is counted as "other". */
const knownTypes = [
  ...catalogue.flatMap((definition) =>
    definition.kind === "request" ? [definition.type, definition.responseType] : [definition.type],
  ),
  BINARY_FRAME_TYPE,
];

const relayedTypes = new Set<string>([commandOutputEvent.type, commandInputEvent.type, BINARY_FRAME_TYPE]);

/**
 * One label's counts, and what the frame hook must do for it, worked out once
 * per label rather than per frame. prom-client hashes label values on every
 * call, so the labelled series are kept here once made.
 */
interface FrameTally {
  in: number;
  out: number;
  isRelayed: boolean;
  duration?: ReturnType<Histogram<"type">["labels"]>;
  relayedBytes?: ReturnType<Counter<"type">["labels"]>;
}

function tallyFor(label: string): FrameTally {
  return { in: 0, out: 0, isRelayed: relayedTypes.has(label) };
}

/**
 * One master's Prometheus series, in a registry of its own so that several
 * masters in one process do not share counters. Gauges are read from the
 * registry and the peers at scrape time; the others are fed by `linkObserver`.
 */
export class MasterMetrics {
  readonly registry = new Registry();
  /**
   * Frames by type, made for every known type up front so that a made-up type
   * adds no label: a plain map, because prom-client's inc() per frame cost the
   * relay a fifth of its throughput.
   */
  private readonly tallies = new Map(knownTypes.map((type) => [type, tallyFor(type)]));
  private readonly otherTally = tallyFor("other");
  /**
   * Durations not yet handed to prom-client, which takes microseconds each.
   * They are handed over on a later tick: the answer was written before its
   * duration came here, and that write queued the transport's flush first.
   */
  private readonly unobserved: { tally: FrameTally; type: string; seconds: number }[] = [];
  private readonly requestDuration: Histogram<"type">;
  private readonly relayedBytes: Counter<"type">;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    // The standard names (process_*, nodejs_*), so stock Node.js dashboards and alerts work unchanged.
    collectDefaultMetrics({ register: this.registry });

    new Gauge({
      name: "olympus_slaves_connected",
      help: "Slave agents connected now.",
      registers,
      collect() {
        this.set(sources.registry.size);
      },
    });
    new Gauge({
      name: "olympus_controls_connected",
      help: "Controls (CLI, dashboard, client library) connected now.",
      registers,
      collect() {
        this.set(countControls(sources.peers));
      },
    });
    new Gauge({
      name: "olympus_nodes",
      help: "Process tree nodes on all slaves, by state, from the trees the agents last reported.",
      labelNames: ["state"],
      registers,
      collect() {
        const counts = new Map<string, number>(nodeStates.map((state) => [state, 0]));
        for (const session of sources.registry.sessions()) {
          for (const node of session.tree.nodes) counts.set(node.state, (counts.get(node.state) ?? 0) + 1);
        }
        for (const [state, count] of counts) this.set({ state }, count);
      },
    });
    new Gauge({
      name: "olympus_commands_running",
      help: "Commands (run and exec) running now on all slaves.",
      registers,
      collect() {
        this.set(sources.countRunningCommands());
      },
    });
    const { tallies, otherTally } = this;
    new Counter({
      name: "olympus_messages_total",
      help: "Protocol messages the master received (in) or sent (out) on registered sessions, by type.",
      labelNames: ["direction", "type"],
      registers,
      // Counted in a plain map on the hot path and handed to prom-client only when scraped.
      collect() {
        this.reset();
        for (const [type, tally] of [...tallies, ["other", otherTally] as const]) {
          if (tally.in > 0) this.inc({ direction: "in", type }, tally.in);
          if (tally.out > 0) this.inc({ direction: "out", type }, tally.out);
        }
      },
    });
    this.requestDuration = new Histogram({
      name: "olympus_request_duration_seconds",
      help: "Time from a request arriving at the master to its response leaving, for requests it handles itself or forwards.",
      labelNames: ["type"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.relayedBytes = new Counter({
      name: "olympus_relayed_bytes_total",
      help: "Size in bytes of the command_output_event and command_input_event frames the master passed on (JSON frames, base64 payload included), and of the binary frames of command bytes (command_bytes: header included).",
      labelNames: ["type"],
      registers,
    });
  }

  readonly linkObserver: LinkObserver = {
    onFrame: (direction, type, bytes) => {
      const tally = this.tallies.get(type) ?? this.otherTally;
      tally[direction]++;
      if (direction !== "out" || !tally.isRelayed) return;
      tally.relayedBytes ??= this.relayedBytes.labels(type);
      tally.relayedBytes.inc(bytes);
    },
    onRequestAnswered: (type, seconds) => {
      if (this.unobserved.length === 0) process.nextTick(this.observeDurations);
      this.unobserved.push({ tally: this.tallies.get(type) ?? this.otherTally, type, seconds });
    },
  };

  private readonly observeDurations = (): void => {
    for (const { tally, type, seconds } of this.unobserved) {
      tally.duration ??= this.requestDuration.labels(type);
      tally.duration.observe(seconds);
    }
    this.unobserved.length = 0;
  };
}

/** `GET /metrics` in the Prometheus text format, behind the bearer token like the rest of the HTTP API. */
export async function metricsRoute(
  app: FastifyInstance,
  { auth, metrics }: { auth: Authenticator; metrics: MasterMetrics },
): Promise<void> {
  app.addHook("onRequest", requireBearer(auth));
  app.get("/metrics", async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
