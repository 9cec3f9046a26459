import { closeSync, writeSync } from "node:fs";
import { startGuardian } from "./native/index.js";

/**
 * No orphans, even if the agent is SIGKILLed: a forked guardian process
 * kills every process group registered here once the agent is gone.
 */
export class Guardian {
  private fd: number | null = startGuardian();

  /** Kill this process group (and the process of that pid) if the agent dies. */
  protect(group: number): void {
    this.tell(group);
  }

  /** The group ended normally; forget it, so a recycled pid is never hit. */
  release(group: number): void {
    this.tell(-group);
  }

  /** The agent is stopping: the guardian kills what is still registered, then exits. */
  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private tell(value: number): void {
    if (this.fd === null) return;
    const message = Buffer.alloc(4);
    message.writeInt32LE(value);
    writeSync(this.fd, message);
  }
}
