import { fileURLToPath } from "node:url";
import type { Link } from "../shared/link.js";
import type { Logger } from "../shared/log.js";
import { nodeStateEvent, restart, treeEvent } from "../shared/messages.js";
import { CommandManager } from "./commands.js";
import { ConfigError, loadPlan, type Plan } from "./config.js";
import { FileMonitor } from "./file-monitor.js";
import { Guardian } from "./guardian.js";
import { MasterConnection, type MasterConnectionOptions } from "./master-connection.js";
import type { TreeNode } from "./process-tree.js";
import { SlaveMonitor } from "./slave-monitor.js";

export const PYTHON_SHIM_PATH = fileURLToPath(new URL("../../slave/shims/python", import.meta.url));
export const DEFAULT_BOOT_TIMEOUT_MS = 120_000;

export interface AgentOptions {
  /** Without a plan the agent only relays (ping). */
  plan: Plan | null;
  fileChangeDelayMs: number;
  bootTimeoutMs: number;
  master: Pick<MasterConnectionOptions, "url" | "token" | "ca" | "name" | "id" | "replace">;
  log: Logger;
  /** The master refused this agent; retrying will not help. */
  onRefused: (reason: string) => void;
  /** Every node state change, e.g. for a live chart. */
  onNodeChange?: (node: TreeNode) => void;
}

/** A slave agent: the host's Zeus master, its file monitor, and its session with the Olympus master. */
export class Agent {
  readonly monitor: SlaveMonitor | null;
  readonly commands: CommandManager;
  private readonly files: FileMonitor | null;
  private readonly connection: MasterConnection;
  private readonly guardian = new Guardian();
  private plan: Plan | null;

  constructor(private readonly options: AgentOptions) {
    const { plan, log } = options;
    this.plan = plan;
    this.files = plan === null ? null : new FileMonitor(options.fileChangeDelayMs, (paths) => this.filesChanged(paths));
    this.monitor =
      plan === null
        ? null
        : new SlaveMonitor({
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
    this.commands = new CommandManager(this.monitor, () => this.connection.link, plan?.directory ?? process.cwd(), this.guardian);
    this.connection = new MasterConnection({
      ...options.master,
      log,
      onRefused: options.onRefused,
      setup: (link) => this.serve(link),
      onConnected: (link) => {
        if (this.monitor !== null) link.event(treeEvent, this.monitor.tree.snapshot());
      },
    });
  }

  start(): void {
    if (this.plan !== null) this.files?.watch(this.plan.path);
    this.monitor?.start();
    this.connection.start();
  }

  async stop(reason: string): Promise<void> {
    this.commands.stopAll();
    this.connection.stop(reason);
    this.monitor?.stop();
    this.guardian.close();
    await this.files?.close();
  }

  private filesChanged(paths: string[]): void {
    const plan = this.plan;
    if (plan !== null && paths.includes(plan.path)) this.reloadPlan(plan.path);
    this.monitor?.filesChanged(paths.filter((path) => path !== plan?.path));
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
    this.plan = plan;
    this.monitor?.replacePlan(plan);
    if (this.monitor !== null) this.connection.link?.event(treeEvent, this.monitor.tree.snapshot());
  }

  private serve(link: Link): void {
    this.commands.serve(link);
    link.onRequest(restart, ({ node }) => {
      if (this.monitor === null) throw new Error("this slave has no plan (zeus.json) to restart");
      return { restarted: this.monitor.restart(node) };
    });
  }
}
