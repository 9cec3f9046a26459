import { closeSync } from "node:fs";
import { native, type Poller } from "./addon.js";

/**
 * Calls onExit (once, asynchronously) when process `pid` exits. Works for any
 * process, not only our children. If it is gone already, onExit still runs.
 * close() cancels and frees the pidfd.
 */
export function watchProcessExit(pid: number, onExit: () => void): { close(): void } {
  let fd: number;
  try {
    fd = native.pidfdOpen(pid);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") {
      throw error;
    }
    const immediate = setImmediate(onExit);
    return { close: () => clearImmediate(immediate) };
  }

  let poller: Poller;
  try {
    poller = new native.Poller(fd);
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  const close = (): void => poller.close();
  // A pidfd only ever reports readable (exited); any wakeup means the process is gone.
  poller.start(true, false, () => {
    close();
    onExit();
  });
  return { close };
}
