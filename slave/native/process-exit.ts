import { closeSync } from "node:fs";
import { constants } from "node:os";
import { native, type Poller } from "./addon.js";

/** How a process ended, as a parent's wait would tell. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ProcessWatch {
  /**
   * Called inside onExit: tells how the process ended, at once while it is a
   * zombie, else once its parent has reaped it; null where the kernel cannot
   * tell (before Linux 6.15, a process its parent reaped first).
   */
  exitStatus(onKnown: (status: ExitStatus | null) => void): void;
  close(): void;
}

/**
 * Calls onExit (once, asynchronously) when process `pid` exits. Works for any
 * process, not only our children. If it is gone already, onExit still runs.
 * close() cancels and frees the pidfd.
 */
export function watchProcessExit(pid: number, onExit: () => void): ProcessWatch {
  let fd: number;
  try {
    fd = native.pidfdOpen(pid);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") {
      throw error;
    }
    const immediate = setImmediate(onExit);
    return { exitStatus: (onKnown) => setImmediate(onKnown, null), close: () => clearImmediate(immediate) };
  }

  let poller: Poller;
  try {
    poller = new native.Poller(fd);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  const read = (): ExitStatus | null => {
    const status = native.exitStatus(fd, pid);
    return status === null ? null : { code: status.code, signal: signalName(status.signal) };
  };
  let askedForStatus = false;
  // A pidfd reports readable once its process has exited, and hangs up once it is reaped.
  poller.start(true, false, () => {
    poller.stop();
    onExit();
    if (!askedForStatus) poller.close();
  });
  return {
    exitStatus: (onKnown) => {
      askedForStatus = true;
      const status = read();
      if (status !== null) {
        poller.close();
        return void setImmediate(onKnown, status);
      }
      poller.startHangup(() => {
        const reaped = read();
        poller.close();
        onKnown(reaped);
      });
    },
    close: () => poller.close(),
  };
}

let known: boolean | undefined;

/** Whether this kernel tells a non-parent how a process ended (Linux 6.15 and later). */
export function exitStatusKnown(): boolean {
  known ??= native.exitStatusByPidfd();
  return known;
}

function signalName(signal: number | null): NodeJS.Signals | null {
  if (signal === null) return null;
  const entry = Object.entries(constants.signals).find(([, number]) => number === signal);
  return (entry?.[0] as NodeJS.Signals | undefined) ?? null;
}
