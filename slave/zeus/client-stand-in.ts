import { reap, startStandIn, watchProcessExit } from "../native/index.js";
import { killQuietly } from "../quietly.js";

/**
 * The client pid a Zeus runner is given. The runner kills its command once
 * that pid is gone, and may SIGTERM it when it ends or fails (the classic
 * gem after every command). So runners are given a stand-in: a forked
 * process that ignores such signals, dies with the agent, and is reaped. It
 * never is the agent.
 *
 * One stand-in serves every command. A fork of the agent costs its loop
 * 7 ms or more, and makes each page the agent writes while the child lives
 * a copy-on-write fault. A control that leaves gets its command hung up by
 * the agent itself (LocalCommand.hangUp), not through the stand-in.
 */
export class ClientStandIn {
  private current: number | null = null;

  /** The stand-in's pid, started on first use and again if it was killed. */
  get pid(): number {
    if (this.current !== null) return this.current;
    const pid = startStandIn();
    this.current = pid;
    watchProcessExit(pid, () => {
      reap(pid);
      if (this.current === pid) this.current = null;
    });
    return pid;
  }

  /** The agent is stopping: runners still waiting on a command see their client gone. */
  close(): void {
    if (this.current !== null) killQuietly(this.current, "SIGKILL");
    this.current = null;
  }
}
