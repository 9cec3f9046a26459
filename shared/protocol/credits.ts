import { COMMAND_WINDOW_BYTES } from "./limits.js";

/** Credit goes back in steps of half a window: about two frames per window instead of one per chunk. */
const CREDIT_STEP_BYTES = COMMAND_WINDOW_BYTES / 2;

/**
 * The receiver's side of a command window: counts consumed bytes and grants
 * them back in coalesced steps. No timer is needed: a sender blocked on a
 * full window has sent a whole window, so once it is consumed a step is due.
 */
export class Credits {
  private consumedBytes = 0;
  private totalBytes = 0;
  /** While held (a resume is under way), credit gathers instead of going to a route that may be gone. */
  private held = false;

  constructor(private readonly grant: (bytes: number) => void) {}

  /** Bytes consumed since the start. */
  get total(): number {
    return this.totalBytes;
  }

  consumed(bytes: number): void {
    this.totalBytes += bytes;
    this.consumedBytes += bytes;
    this.grantIfDue();
  }

  /** Everything consumed so far is told the sender as a position instead (a resume): none of it is granted again. */
  settle(): number {
    this.consumedBytes = 0;
    return this.totalBytes;
  }

  hold(held: boolean): void {
    this.held = held;
    this.grantIfDue();
  }

  private grantIfDue(): void {
    if (this.held || this.consumedBytes < CREDIT_STEP_BYTES) return;
    const step = this.consumedBytes;
    this.consumedBytes = 0;
    this.grant(step);
  }
}
