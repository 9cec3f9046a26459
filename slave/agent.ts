import { availableParallelism } from "node:os";
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import type { Link } from "../shared/protocol/link.js";
import { nodeStateEvent, restart, testFiles, treeEvent } from "../shared/protocol/messages.js";
import type { Logger } from "../shared/runtime/log.js";
import { LocalCommands } from "./commands/local-commands.js";
import { Guardian } from "./guardian.js";
import { MasterConnection, type MasterConnectionOptions } from "./master-connection.js";
import { ConfigError, loadPlan, type Plan } from "./zeus/config.js";
import { FileMonitor } from "./zeus/file-monitor.js";
import type { TreeNode } from "./zeus/process-tree.js";
import { Supervisor } from "./zeus/supervisor.js";
import { findTestFiles } from "./zeus/test-files.js";

export const PYTHON_SHIM_PATH = fileURLToPath(new URL("../../slave/shims/python", import.meta.url));
export const DEFAULT_BOOT_TIMEOUT_MS = 120_000;

export interface AgentOptions {
  /** Without a plan the agent only relays (ping). */
  plan: Plan | null;
  fileChangeDelayMs: number;
  bootTimeoutMs: number;
  master: Pick<MasterConnectionOptions, "urls" | "token" | "ca" | "name" | "id" | "replace" | "openSocket">;
  log: Logger;
  /** The master refused this agent; retrying will not help. */
  onRefused: (reason: string) => void;
  /** Every node state change, e.g. for a live chart. */
  onNodeChange?: (node: TreeNode) => void;
}

/** A slave agent: the host's Zeus master, its file monitor, and its session with the Olympus master. */
export class Agent {
  readonly supervisor: Supervisor | null;
  readonly commands: LocalCommands;
  private readonly files: FileMonitor | null;
  private readonly connection: MasterConnection;
  private readonly guardian = new Guardian();
  /** zeus.json, read again when it changes. */
  private readonly planPath: string | null;

  constructor(private readonly options: AgentOptions) {
    const { plan, log } = options;
    this.planPath = plan?.path ?? null;
    this.files = plan === null ? null : new FileMonitor(options.fileChangeDelayMs, (paths) => this.filesChanged(paths));
    this.supervisor =
      plan === null
        ? null
        : new Supervisor({
            plan,
            bootTimeoutMs: options.bootTimeoutMs,
            pythonPath: [PYTHON_SHIM_PATH],
            log,
            onFile: (path) => this.files?.watch(path),
            flushFileChanges: () => this.files?.flush(),
            guardian: this.guardian,
            onNodeChange: (node) => {
              this.connection.link?.event(nodeStateEvent, { node: node.snapshot() });
              options.onNodeChange?.(node);
            },
          });
    this.commands = new LocalCommands(this.supervisor, plan?.directory ?? process.cwd(), this.guardian, log);
    this.connection = new MasterConnection({
      ...options.master,
      log,
      onRefused: options.onRefused,
      setup: (link) => this.serve(link),
      onConnected: (link) => {
        if (this.supervisor !== null) link.event(treeEvent, this.supervisor.tree.snapshot());
      },
      // The master has forgotten their controls: nobody is left to read their output.
      onSessionExpired: () => {
        const running = this.commands.running;
        if (running === 0) return;
        log(`ending ${running} command(s) whose session with the master is over`);
        this.commands.stopAll();
      },
    });
  }

  start(): void {
    if (this.planPath !== null) this.files?.watch(this.planPath);
    this.supervisor?.start();
    this.connection.start();
  }

  /** Stops everything; says what it stopped, e.g. `2 commands, 3 workers (boot, work, test) and the session with ws://…`. */
  async stop(reason: string): Promise<string> {
    const commands = this.commands.running;
    const workers = (this.supervisor?.tree.snapshot().nodes ?? []).filter((node) => node.pid !== null);
    const url = this.connection.url;
    this.commands.stopAll();
    this.commands.close();
    this.connection.stop(reason);
    this.supervisor?.stop();
    this.guardian.close();
    await this.files?.close();
    const names = workers.length === 0 ? "" : ` (${workers.map((node) => node.name).join(", ")})`;
    const session = url === null ? "" : ` and the session with ${url}`;
    return `${plural(commands, "command")}, ${plural(workers.length, "worker")}${names}${session}`;
  }

  private filesChanged(paths: string[]): void {
    const planPath = this.planPath;
    if (planPath !== null && paths.includes(planPath)) this.reloadPlan(planPath);
    this.supervisor?.filesChanged(paths.filter((path) => path !== planPath));
  }

  /** A broken zeus.json keeps the running plan, and says so: nothing is restarted on a guess. */
  private reloadPlan(path: string): void {
    let plan: Plan;
    try {
      plan = loadPlan(path);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      return this.options.log(`${error.message}; still running the plan loaded before`);
    }
    this.supervisor?.replacePlan(plan);
    if (this.supervisor !== null) this.connection.link?.event(treeEvent, this.supervisor.tree.snapshot());
  }

  private serve(link: Link): void {
    this.commands.serve(link);
    link.onRequest(restart, ({ node }) => {
      if (this.supervisor === null) throw new Error("this slave has no plan (zeus.json) to restart");
      return { restarted: this.supervisor.restart(node) };
    });
    link.onRequest(testFiles, ({ patterns }) => {
      if (this.supervisor === null) throw new Error("this slave has no plan (zeus.json), so it has no tests");
      const plan = this.supervisor.currentPlan;
      const files = findTestFiles(plan.directory, patterns, plan.testFiles);
      return { plan: basename(plan.directory), files, cpus: availableParallelism() };
    });
  }
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
