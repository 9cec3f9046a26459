import { setFlagsFromString } from "node:v8";

/**
 * Makes V8's full collections atomic instead of incremental, for a process
 * that runs a master.
 *
 * Under sustained load (bench/relay at 16 requests in flight) a master often
 * fell into a loop. Each scavenge promoted ~0.7 MB of per-request objects
 * that would have died young. The old generation then filled within a second
 * and marking began again: 14–19 mark-compacts a minute, scavenges of ~1.7 ms
 * instead of ~0.6, and nearly twice the p99. With atomic marking the same
 * load ran with no mark-compact at all. The master's heap is small, so an
 * atomic collection costs it ~10–20 ms, and it is rare (bench/README.md,
 * relay).
 *
 * V8 reads this flag when a collection starts, so setting it after start-up
 * takes effect.
 */
export function useAtomicMarking(): void {
  setFlagsFromString("--no-incremental-marking");
}
