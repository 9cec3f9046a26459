import { type FSWatcher, watch } from "chokidar";

/** Zeus waits this long after a change for more changes before restarting. */
export const DEFAULT_FILE_CHANGE_DELAY_MS = 300;

/**
 * Watches exactly the files the workers reported (and zeus.json with the
 * files the plan declares; a path that does not exist yet is watched for). Changes, deletions and
 * atomic rename-overs are gathered for `delayMs`, then reported together.
 */
export class FileMonitor {
  private readonly watcher: FSWatcher;
  private readonly watched = new Set<string>();
  private readonly changed = new Set<string>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly delayMs: number,
    private readonly onChange: (paths: string[]) => void,
  ) {
    this.watcher = watch([], { ignoreInitial: true, atomic: true, persistent: true });
    for (const event of ["change", "unlink", "add"] as const) this.watcher.on(event, (path) => this.noticed(path));
    this.watcher.on("error", () => {
      // A watched file that vanished with its directory; its node restarts on the unlink already seen.
    });
  }

  watch(path: string): void {
    if (this.watched.has(path)) return;
    this.watched.add(path);
    this.watcher.add(path);
  }

  /** Reports the changes gathered so far now, not after the delay: a command is about to start. */
  flush(): void {
    if (this.timer === null) return;
    clearTimeout(this.timer);
    this.report();
  }

  close(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    return this.watcher.close();
  }

  private noticed(path: string): void {
    if (!this.watched.has(path)) return;
    this.changed.add(path);
    if (this.timer !== null) return;
    this.timer = setTimeout(() => this.report(), this.delayMs);
  }

  private report(): void {
    this.timer = null;
    const paths = [...this.changed];
    this.changed.clear();
    this.onChange(paths);
  }
}
