import type { Link } from "./link.js";
import { heartbeat } from "./messages.js";

/**
 * Acknowledge at least this often, so the peer's resend buffer stays small
 * under heavy traffic. By bytes for large frames (command output); by count
 * too, so small ones are not kept for a whole interval. Every acknowledgement
 * is a frame each side handles, so not more often than this.
 */
const ACKNOWLEDGE_EVERY_BYTES = 1024 * 1024;
const ACKNOWLEDGE_EVERY_FRAMES = 1024;

/**
 * Heartbeats for one attached socket: sends `heartbeat {last_seq}` every
 * interval (and sooner when many frames arrived), applies the peer's
 * acknowledgements, and reports a peer silent for twice the interval.
 */
export class Heartbeat {
  private ticker: NodeJS.Timeout | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private framesSinceBeat = 0;
  private bytesSinceBeat = 0;
  /** Whether the peer has sent a heartbeat at all: a client written to the base protocol alone never does. */
  heardFromPeer = false;

  constructor(
    private readonly link: Link,
    private readonly intervalMs: number,
    private readonly onSilent: () => void,
  ) {
    link.onMessage(heartbeat, ({ last_seq }) => {
      this.heardFromPeer = true;
      link.acknowledge(last_seq);
      this.armWatchdog();
    });
  }

  start(): void {
    this.stop();
    this.ticker = setInterval(() => this.beat(), this.intervalMs);
    // The first beat at once, so the peer knows this side acknowledges from the start.
    this.beat();
    this.armWatchdog();
  }

  stop(): void {
    if (this.ticker !== null) clearInterval(this.ticker);
    if (this.watchdog !== null) clearTimeout(this.watchdog);
    this.ticker = this.watchdog = null;
  }

  /** Call for every numbered frame received. */
  frameReceived(bytes: number): void {
    this.bytesSinceBeat += bytes;
    if (++this.framesSinceBeat >= ACKNOWLEDGE_EVERY_FRAMES || this.bytesSinceBeat >= ACKNOWLEDGE_EVERY_BYTES)
      this.beat();
  }

  private beat(): void {
    this.framesSinceBeat = this.bytesSinceBeat = 0;
    this.link.sendUnnumbered(heartbeat, { last_seq: this.link.lastReceivedSeq });
  }

  private armWatchdog(): void {
    if (this.ticker === null) return;
    if (this.watchdog !== null) clearTimeout(this.watchdog);
    this.watchdog = setTimeout(this.onSilent, 2 * this.intervalMs);
  }
}
