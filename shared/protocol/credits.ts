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

  constructor(private readonly grant: (bytes: number) => void) {}

  consumed(bytes: number): void {
    this.consumedBytes += bytes;
    if (this.consumedBytes < CREDIT_STEP_BYTES) return;
    const step = this.consumedBytes;
    this.consumedBytes = 0;
    this.grant(step);
  }
}
