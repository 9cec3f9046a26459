import type { TimelineEvent, TreeNode } from "../../shared/protocol/messages.js";

/** How far back the timeline reaches, and how many changes it keeps at most (so its list fits one frame). */
export const TIMELINE_MS = 60 * 60 * 1000;
export const TIMELINE_EVENTS = 3000;

/**
 * Every phase's changes of state over the last hour, on every slave: what
 * the dashboard's timeline draws as boots, restarts and crashes.
 */
export class NodeTimeline {
  private events: TimelineEvent[] = [];

  record(slave: string, node: TreeNode, now = Date.now()): void {
    const event: TimelineEvent = { slave, node: node.name, state: node.state, at: new Date(now).toISOString() };
    // Why it restarted, once, as it starts booting; how long the boot took, once it is ready.
    if (node.state === "booting" && node.restart_reason != null) event.reason = node.restart_reason;
    if (node.state === "ready" && node.boot_ms != null) event.boot_ms = node.boot_ms;
    this.events.push(event);
    const since = new Date(now - TIMELINE_MS).toISOString();
    let old = 0;
    while (old < this.events.length && (this.events[old] as TimelineEvent).at < since) old++;
    old = Math.max(old, this.events.length - TIMELINE_EVENTS);
    if (old > 0) this.events.splice(0, old);
  }

  list(): TimelineEvent[] {
    const since = new Date(Date.now() - TIMELINE_MS).toISOString();
    return this.events.filter((event) => event.at >= since);
  }
}
