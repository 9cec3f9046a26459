interface Hold {
  /** Ends the wait under way; null before it began. */
  cancel: ((reason: string) => void) | null;
  /** Set when cancelled before its wait began: the wait then fails at once. */
  cancelled: string | null;
}

/**
 * Commands held back until another command's process exits (`run_request
 * {after}`): a suite's next file on a busy slot, whose runner is forked while
 * the file before it still runs, so that no round trip through the master and
 * no fork sits between the two. A signal to a held command cancels it.
 */
export class ExitWaits {
  /** By the command waited for. */
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly holds = new Map<string, Hold>();

  hold(waiter: string): void {
    this.holds.set(waiter, { cancel: null, cancelled: null });
  }

  release(waiter: string): void {
    this.holds.delete(waiter);
  }

  /**
   * Resolves true once the command `after` no longer runs (`running` says so
   * now, or `exited` is called for it), false after `timeoutMs` (never when
   * null); rejects when `waiter` is cancelled.
   */
  wait(waiter: string, after: string, running: (id: string) => boolean, timeoutMs: number | null): Promise<boolean> {
    const hold = this.holds.get(waiter);
    if (hold?.cancelled) return Promise.reject(new Error(hold.cancelled));
    if (!running(after)) return Promise.resolve(true);
    return new Promise((resolve, reject) => {
      const waiters = this.waiters.get(after) ?? new Set();
      this.waiters.set(after, waiters);
      const settle = (outcome: () => void) => {
        if (timer !== null) clearTimeout(timer);
        waiters.delete(exited);
        if (waiters.size === 0) this.waiters.delete(after);
        if (hold !== undefined) hold.cancel = null;
        outcome();
      };
      const exited = () => settle(() => resolve(true));
      const timer = timeoutMs === null ? null : setTimeout(() => settle(() => resolve(false)), timeoutMs);
      waiters.add(exited);
      if (hold !== undefined) hold.cancel = (reason) => settle(() => reject(new Error(reason)));
    });
  }

  /** The process of command `id` exited, or it never will: whatever waits for it may start. */
  exited(id: string): void {
    for (const exited of [...(this.waiters.get(id) ?? [])]) exited();
  }

  /** Cancels a held command; false when `waiter` is not held. */
  cancel(waiter: string, reason: string): boolean {
    const hold = this.holds.get(waiter);
    if (hold === undefined) return false;
    if (hold.cancel !== null) hold.cancel(reason);
    else hold.cancelled ??= reason;
    return true;
  }

  cancelAll(reason: string): void {
    for (const waiter of [...this.holds.keys()]) this.cancel(waiter, reason);
  }
}
