import { reap, startStandIn, watchProcessExit } from "./native/index.js";
import { killQuietly } from "./worker.js";

/**
 * The client pid a Zeus runner is given. The runner kills its command once
 * that pid is gone, and may SIGTERM it when it ends or fails (the classic
 * gem after every command). So each command gets a stand-in of its own: a
 * forked process that ignores such signals, lives until its command's
 * client is done with it, and is reaped. It never is the agent.
 */
export class ClientStandIn {
  readonly pid = startStandIn();

  constructor() {
    watchProcessExit(this.pid, () => reap(this.pid));
  }

  /** The client is done: the runner's watchdog now ends a command still running. */
  end(): void {
    killQuietly(this.pid, "SIGKILL");
  }
}
