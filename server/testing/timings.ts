import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as z from "../../shared/protocol/zod.js";

const planRecordSchema = z.object({
  /** Seconds each file took the last time it ran to its end. */
  durations: z.record(z.string(), z.number()),
  /** The files that failed in the last run. */
  failed: z.array(z.string()),
});
const fileSchema = z.object({ version: z.literal(1), plans: z.record(z.string(), planRecordSchema) });

export type PlanRecord = z.infer<typeof planRecordSchema>;

export const TIMINGS_FILE = "test-timings.json";

/**
 * What earlier suites learnt, per plan and file, in the master's state
 * directory: how long each file took, and which failed last time. A missing
 * or unreadable file is a first run, not an error.
 */
export class TimingStore {
  private readonly path: string;

  constructor(
    private readonly directory: string,
    private readonly log: (line: string) => void,
  ) {
    this.path = join(directory, TIMINGS_FILE);
  }

  read(plan: string): PlanRecord {
    return this.readAll()[plan] ?? { durations: {}, failed: [] };
  }

  /** Merges a run's durations into the plan's, and replaces its failures with the run's. */
  record(plan: string, durations: Map<string, number>, failed: string[]): void {
    const plans = this.readAll();
    const known = plans[plan] ?? { durations: {}, failed: [] };
    for (const [file, seconds] of durations) known.durations[file] = Math.round(seconds * 1000) / 1000;
    plans[plan] = { durations: known.durations, failed };
    try {
      mkdirSync(this.directory, { recursive: true, mode: 0o700 });
      // Written whole, then renamed: a crash mid-write cannot leave half a file.
      writeFileSync(`${this.path}.tmp`, `${JSON.stringify({ version: 1, plans }, null, 1)}\n`);
      renameSync(`${this.path}.tmp`, this.path);
    } catch (error) {
      this.log(`cannot save test timings to ${this.path}: ${(error as Error).message}`);
    }
  }

  private readAll(): Record<string, PlanRecord> {
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch {
      return {};
    }
    try {
      const parsed = fileSchema.safeParse(JSON.parse(text));
      if (parsed.success) return parsed.data.plans;
    } catch {
      // Not JSON: reported below like any other bad content.
    }
    this.log(`${this.path} is not a timings file; starting afresh`);
    return {};
  }
}
