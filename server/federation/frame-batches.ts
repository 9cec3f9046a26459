/**
 * Frames a tunnel writes in one event-loop turn go to NATS as one message.
 * Each NATS message costs the server and both clients a parse and a
 * dispatch. At 128 requests in flight a turn writes about ten frames to a
 * tunnel; batching them cut the CPU per relayed request from 7-9 to 5-6 µs
 * in nats-server, 17-21 to 14 µs in the control's master and 13-15 to
 * 10-11 µs in the slave's.
 *
 * Frames are JSON text, in which a newline is always escaped, so a batch is
 * its frames joined by newlines.
 */

const SEPARATOR = "\n";

/** A batch is sent once it holds this many characters, well under NATS's default 1 MB payload limit. */
export const BATCH_LIMIT = 64 * 1024;

export class FrameBatches {
  private readonly pending = new Map<string, { frames: string[]; size: number }>();
  private scheduled = false;

  constructor(private readonly send: (subject: string, payload: string) => void) {}

  add(subject: string, frame: string): void {
    const full = this.pending.get(subject);
    if (full !== undefined && full.size + frame.length > BATCH_LIMIT) {
      this.pending.delete(subject);
      this.send(subject, full.frames.join(SEPARATOR));
    }
    const batch = this.pending.get(subject) ?? { frames: [], size: 0 };
    this.pending.set(subject, batch);
    batch.frames.push(frame);
    batch.size += frame.length + SEPARATOR.length;
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => this.flush());
  }

  /** Sends every pending batch now. */
  flush(): void {
    this.scheduled = false;
    const batches = [...this.pending];
    this.pending.clear();
    for (const [subject, batch] of batches) this.send(subject, batch.frames.join(SEPARATOR));
  }
}

/** The frames of one batch, in the order they were written. */
export function framesOf(payload: string): string[] {
  return payload.split(SEPARATOR);
}
