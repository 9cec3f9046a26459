import type { PlanRecord } from "./timings.js";

interface Entry {
  file: string;
  /** Slaves that lost this file: others take it first. */
  lostOn: Set<string>;
}

/**
 * The files still to run, in the order idle workers take them: with
 * `rerunFailed` the last run's failures first, then files never timed in the
 * order given, then the rest longest first, so that no long file starts last.
 */
export class TestQueue {
  private readonly waiting: Entry[];
  private readonly requeued = new Set<string>();

  constructor(files: string[], record: PlanRecord, rerunFailed: boolean) {
    const failed = new Set(rerunFailed ? record.failed : []);
    const rank = (file: string) => (failed.has(file) ? 0 : record.durations[file] === undefined ? 1 : 2);
    const duration = (file: string) => record.durations[file] ?? 0;
    // Array.prototype.sort is stable: files of equal rank and time keep the order given.
    this.waiting = [...files]
      .sort((a, b) => rank(a) - rank(b) || duration(b) - duration(a))
      .map((file) => ({ file, lostOn: new Set() }));
  }

  get length(): number {
    return this.waiting.length;
  }

  /** The next file for `slave`: one it lost is left for the others, unless `anyFile`. */
  next(slave: string, anyFile = false): string | undefined {
    const index = this.waiting.findIndex((entry) => anyFile || !entry.lostOn.has(slave));
    return index < 0 ? undefined : this.waiting.splice(index, 1)[0]?.file;
  }

  /**
   * Puts a file `slave` lost back at the head, for the other slaves; says
   * whether it did. A file that ran is put back once (lost a second time, it
   * is its own failure); one that never started, always.
   */
  requeue(file: string, slave: string, ran: boolean): boolean {
    if (ran && this.requeued.has(file)) return false;
    if (ran) this.requeued.add(file);
    const lostOn = new Set([slave]);
    this.waiting.unshift({ file, lostOn });
    return true;
  }

  /** What is left when the suite ends early. */
  drain(): string[] {
    return this.waiting.splice(0).map((entry) => entry.file);
  }
}
