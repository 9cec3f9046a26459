/** A piece of a command's output or input. */
export interface Chunk {
  data: Buffer;
}

/**
 * The bytes one side of a command sent, counted from its start, kept until
 * the other side acknowledges them (a window at most, so memory stays
 * bounded): when the route breaks with a master, what the other side never
 * received is sent again from here, from the position it names. The agent
 * keeps its output so, the control its input.
 */
export class ReplayLog<T extends Chunk> {
  private sentBytes = 0;
  private acknowledgedBytes = 0;
  /** Sent but unacknowledged, oldest first, starting at byte `keptFrom`. */
  private readonly kept: T[] = [];
  private keptFrom = 0;

  get sent(): number {
    return this.sentBytes;
  }

  get acknowledged(): number {
    return this.acknowledgedBytes;
  }

  get unacknowledged(): number {
    return this.sentBytes - this.acknowledgedBytes;
  }

  add(chunk: T): void {
    this.sentBytes += chunk.data.length;
    this.kept.push(chunk);
  }

  /** Everything up to byte `position` is acknowledged (never beyond what was sent, never back). */
  acknowledgeUpTo(position: number): void {
    this.acknowledgedBytes = Math.max(this.acknowledgedBytes, Math.min(this.sentBytes, position));
    let count = 0;
    for (const chunk of this.kept) {
      if (this.keptFrom + chunk.data.length > this.acknowledgedBytes) break;
      this.keptFrom += chunk.data.length;
      count++;
    }
    this.kept.splice(0, count);
  }

  /** The chunks sent past byte `position`, the first cut to start there; `position` must lie within what is kept. */
  after(position: number): T[] {
    if (position < this.keptFrom || position > this.sentBytes)
      throw new RangeError(`byte ${position} is not kept: bytes ${this.keptFrom} to ${this.sentBytes} are`);
    const rest: T[] = [];
    let offset = this.keptFrom;
    for (const chunk of this.kept) {
      const skip = Math.max(0, position - offset);
      if (skip < chunk.data.length) rest.push(skip === 0 ? chunk : { ...chunk, data: chunk.data.subarray(skip) });
      offset += chunk.data.length;
    }
    return rest;
  }
}
