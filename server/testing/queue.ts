import type { PlanRecord } from "./timings.js";

/**
 * The files still to run, in the order idle workers take them: with
 * `rerunFailed` the last run's failures first, then files never timed in the
 * order given, then the rest longest first, so that no long file starts last.
 */
export class TestQueue {
  private readonly waiting: string[];
  private readonly requeues = new Map<string, number>();

  constructor(files: string[], record: PlanRecord, rerunFailed: boolean) {
    const failed = new Set(rerunFailed ? record.failed : []);
    const rank = (file: string) => (failed.has(file) ? 0 : record.durations[file] === undefined ? 1 : 2);
    const duration = (file: string) => record.durations[file] ?? 0;
    // Array.prototype.sort is stable: files of equal rank and time keep the order given.
    this.waiting = [...files].sort((a, b) => rank(a) - rank(b) || duration(b) - duration(a));
  }

  get length(): number {
    return this.waiting.length;
  }

  next(): string | undefined {
    return this.waiting.shift();
  }

  /** Puts a lost file back at the head, once; says whether it was (a second loss is the file's failure). */
  requeue(file: string): boolean {
    if ((this.requeues.get(file) ?? 0) >= 1) return false;
    this.requeues.set(file, 1);
    this.waiting.unshift(file);
    return true;
  }

  /** What is left when the suite ends early. */
  drain(): string[] {
    return this.waiting.splice(0);
  }
}
