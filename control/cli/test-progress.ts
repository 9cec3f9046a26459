import type { TestFileEvent } from "../client/client.js";
import { plainLine } from "./test-report.js";

interface SlaveProgress {
  done: number;
  failures: number;
  /** Files running now, with when each started. */
  running: Map<string, number>;
}

const BAR_WIDTH = 20;
const REDRAW_MS = 200;

/**
 * `control test` on a terminal: one live line per slave (a bar of the
 * suite's progress, the files it finished, its current file and for how
 * long), redrawn in place; failures and requeues are printed above the lines.
 */
export class LiveProgress {
  private readonly slaves = new Map<string, SlaveProgress>();
  private total = 0;
  private finished = 0;
  private drawn = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly startedAt = Date.now();

  constructor(private readonly stream: NodeJS.WriteStream) {}

  begin(names: string[], total: number): void {
    this.total = total;
    for (const name of names) this.slaves.set(name, { done: 0, failures: 0, running: new Map() });
    this.timer = setInterval(() => this.draw(), REDRAW_MS);
    this.draw();
  }

  update(event: TestFileEvent): void {
    const slave = this.slaves.get(event.slave);
    if (slave === undefined) return;
    if (event.state === "started") slave.running.set(event.file, Date.now());
    else slave.running.delete(event.file);
    if (event.state === "passed" || event.state === "failed") {
      slave.done++;
      this.finished++;
    }
    if (event.state === "failed") slave.failures++;
    const line = event.state === "passed" ? null : plainLine(event);
    if (line !== null) this.above(line);
    else this.draw();
  }

  end(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.draw();
  }

  private above(line: string): void {
    this.erase();
    this.stream.write(`${line}\n`);
    this.draw();
  }

  private erase(): void {
    if (this.drawn > 0) this.stream.write(`\x1b[${this.drawn}A\x1b[J`);
    this.drawn = 0;
  }

  private draw(): void {
    this.erase();
    const now = Date.now();
    const width = Math.max(...[...this.slaves.keys()].map((name) => name.length));
    const filled = this.total === 0 ? BAR_WIDTH : Math.round((this.finished / this.total) * BAR_WIDTH);
    const bar = `${"█".repeat(filled)}${"░".repeat(BAR_WIDTH - filled)}`;
    const columns = this.stream.columns ?? 100;
    const lines = [...this.slaves].map(([name, slave]) => {
      const [current, since] = [...slave.running][0] ?? ["idle", now];
      const more = slave.running.size > 1 ? ` +${slave.running.size - 1}` : "";
      const failures = slave.failures > 0 ? `  ${slave.failures} failed` : "";
      const line =
        `${name.padEnd(width)}  ${bar} ${this.finished}/${this.total}  ${slave.done} done${failures}  ` +
        `${current}${more} ${((now - since) / 1000).toFixed(1)}s  (${((now - this.startedAt) / 1000).toFixed(0)}s)`;
      return line.slice(0, columns - 1);
    });
    this.stream.write(`${lines.join("\n")}\n`);
    this.drawn = lines.length;
  }
}
