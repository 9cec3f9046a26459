import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { delimiter, dirname, isAbsolute, relative } from "node:path";
import { createInterface } from "node:readline";
import type { NodeState } from "../../shared/protocol/messages.js";
import type { Logger } from "../../shared/runtime/log.js";
import type { Guardian } from "../guardian.js";
import { exitStatusKnown, FdChannel, socketpair, socketType } from "../native/index.js";
import { closeQuietly, killQuietly } from "../quietly.js";
import { declaredFiles, type Plan, type PlanCommand, samePlan } from "./config.js";
import { ProcessTree, type TreeNode } from "./process-tree.js";
import { type Generation, Worker } from "./worker.js";
import type { WorkerMessage } from "./worker-messages.js";
import { WorkerSocket } from "./worker-socket.js";

export interface SupervisorOptions {
  plan: Plan;
  /** Time from boot to `R:` before the node counts as crashed. */
  bootTimeoutMs: number;
  /** Directories put first on PYTHONPATH for the root command (the Python shim). */
  pythonPath: string[];
  log: Logger;
  /** Every state change, for the master and the status chart. */
  onNodeChange: (node: TreeNode) => void;
  /** A file a node depends on, to be watched. */
  onFile: (path: string) => void;
  /** Changes noticed but not yet reported are reported now: a command must not fork from stale code. */
  flushFileChanges: () => void;
  guardian: Guardian;
}

/** How long a worker has to send `P:` once its socket arrived. */
const IDENTITY_TIMEOUT_MS = 10_000;
/** A restart's reason names its files up to here (the protocol takes 4,096 characters). */
const MAX_REASON_CHARS = 1000;
/** A crashed worker may still send loaded files; then it is killed. */
const CRASH_GRACE_MS = 1_000;
/** A ready worker that dies sooner than this after booting is crashed, not rebooted, to avoid a boot loop. */
const MIN_HEALTHY_MS = 1_000;

/**
 * The Zeus master for this host: boots the root with ZEUS_MASTER_FD, accepts
 * every worker's socket, and drives each node unbooted → booting → ready |
 * crashed. Restarts exactly the subtree it is asked to.
 */
export class Supervisor {
  tree: ProcessTree;
  private plan: Plan;
  /** Declared files the root still holds for lack of a more precise claim. */
  private declared = new Set<string>();
  private readonly workers = new Map<TreeNode, Worker>();
  private readonly readySince = new Map<TreeNode, number>();
  private masterChannel: FdChannel | null = null;
  private workerEnd = -1;
  private rootProcess: ChildProcess | null = null;
  private stopped = false;
  private readonly settleWaiters = new Set<() => void>();

  constructor(private readonly options: SupervisorOptions) {
    this.plan = options.plan;
    this.tree = new ProcessTree(options.plan);
  }

  start(): void {
    const [agentEnd, workerEnd] = socketpair("dgram");
    this.workerEnd = workerEnd;
    this.masterChannel = new FdChannel(agentEnd);
    this.masterChannel.on("data", (_data, fds) => {
      for (const fd of fds) this.accept(fd);
    });
    this.masterChannel.on("error", (error) => this.options.log(`master socket error: ${error.message}`));
    this.masterChannel.on("dropped", (error) => this.options.log(`dropped a registration: ${error.message}`));
    this.bootPlan();
  }

  /** The plan it runs now: zeus.json may have changed since the start. */
  get currentPlan(): Plan {
    return this.plan;
  }

  /** zeus.json changed: the same plan restarts the root; a new one replaces the whole tree. */
  replacePlan(plan: Plan): void {
    if (samePlan(plan, this.plan)) return this.restartSubtree(this.tree.root, `${this.fromPlan(plan.path)} changed`);
    this.options.log(`${plan.path} changed: booting the new plan`);
    for (const worker of this.workers.values()) worker.dispose("SIGKILL");
    this.workers.clear();
    this.killRootGroup();
    this.plan = plan;
    this.tree = new ProcessTree(plan);
    this.bootPlan();
  }

  /** The root depends on the declared files until a phase below it claims one (say, .env for the settings). */
  private bootPlan(): void {
    this.declared = new Set(declaredFiles(this.plan));
    for (const path of this.declared) this.addFile(this.tree.root, path);
    this.boot(this.tree.root);
  }

  /** Restarts a node (the root when none is named) and its subtree; returns the names restarted. */
  restart(name?: string): string[] {
    const node = name === undefined ? this.tree.root : this.tree.find(name);
    this.restartSubtree(node, "restart requested");
    return [...node.subtree()].map((restarted) => restarted.name);
  }

  /**
   * Asks the ready node that owns `name` (a command or alias) to fork a
   * runner, waiting for the node to boot first. Resolves with the runner's
   * socket; rejects with the crash report if the node is crashed.
   */
  async openRunner(name: string): Promise<{ command: PlanCommand; socket: number; generation: Generation }> {
    this.options.flushFileChanges();
    const command = this.tree.commands.find((candidate) => candidate.name === name || candidate.aliases.includes(name));
    if (command === undefined) {
      const known = this.tree.commands.map((candidate) => candidate.name).join(", ");
      throw new Error(`no command named ${JSON.stringify(name)} in the plan; commands: ${known}`);
    }
    const node = this.tree.find(command.parent);
    await this.untilSettled(node);
    const crashed = node.crashedAncestry();
    if (crashed !== null) throw new Error(`phase ${crashed.name} crashed:\n${crashed.error ?? ""}`.trimEnd());
    const worker = this.workers.get(node) as Worker;
    return {
      command,
      socket: await worker.requestRunner(command.name, this.options.bootTimeoutMs),
      generation: worker.generation,
    };
  }

  /** Resolves once the node is ready, crashed, or waiting on a crashed ancestor. */
  private untilSettled(node: TreeNode): Promise<void> {
    if (node.settled) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.settleWaiters.delete(check);
        reject(new Error(`${node.name} did not boot within ${this.options.bootTimeoutMs} ms`));
      }, this.options.bootTimeoutMs);
      const check = () => {
        if (!node.settled) return;
        clearTimeout(timer);
        this.settleWaiters.delete(check);
        resolve();
      };
      this.settleWaiters.add(check);
    });
  }

  /** Restarts the highest nodes that loaded any of these files. */
  filesChanged(paths: string[]): void {
    const all = paths.map((path) => this.fromPlan(path)).join(", ");
    const named = all.length > MAX_REASON_CHARS ? `${all.slice(0, MAX_REASON_CHARS)}…` : all;
    for (const node of this.tree.highestLoading(paths)) this.restartSubtree(node, `${named} changed`);
  }

  /** Kills every worker; the agent is going away. */
  stop(): void {
    this.stopped = true;
    for (const worker of this.workers.values()) worker.dispose("SIGKILL");
    this.workers.clear();
    // Forked workers share the root's process group.
    this.killRootGroup();
    this.masterChannel?.close();
  }

  private boot(node: TreeNode): void {
    if (this.stopped) return;
    if (node.parent !== null && node.parent.state !== "ready") return;
    const worker = new Worker(node);
    this.workers.set(node, worker);
    node.bootStartedAt = Date.now();
    this.setState(node, "booting", null);
    worker.setTimer(this.options.bootTimeoutMs, () =>
      this.crash(node, `no result (R:) within ${this.options.bootTimeoutMs} ms`),
    );
    if (node.parent === null) this.spawnRoot(worker);
    else this.workers.get(node.parent)?.socket?.send(`S:${node.name}`);
  }

  private spawnRoot(worker: Worker): void {
    const { pythonPath } = this.options;
    const plan = this.plan;
    const env: NodeJS.ProcessEnv = { ...process.env, ZEUS_MASTER_FD: "3" };
    env.PYTHONPATH = [...pythonPath, ...(env.PYTHONPATH ? [env.PYTHONPATH] : [])].join(delimiter);
    // The Python shim's runner then runs the command in its own process, a fork less (see command-runner.ts).
    if (env.OLYMPUS_RUNNER_RUNS_COMMAND !== "0") env.OLYMPUS_RUNNER_RUNS_COMMAND = exitStatusKnown() ? "1" : "0";
    // Its own process group, so stop() can reach every forked worker at once.
    const child = spawn("/bin/sh", ["-c", plan.command], {
      cwd: plan.directory,
      env,
      stdio: ["ignore", "pipe", "pipe", this.workerEnd],
      detached: true,
    });
    this.rootProcess = child;
    const group = child.pid;
    if (group !== undefined) {
      this.options.guardian.protect(group);
      child.on("exit", () => this.options.guardian.release(group));
    }
    for (const stream of [child.stdout, child.stderr]) {
      if (stream !== null) createInterface({ input: stream }).on("line", (line) => this.options.log(`worker: ${line}`));
    }
    child.on("error", (error) =>
      this.crash(worker.node, `cannot start ${JSON.stringify(plan.command)}: ${error.message}`),
    );
    child.on("exit", (code, signal) => {
      if (this.workers.get(worker.node) === worker) this.workerExited(worker, signal ?? `code ${code}`);
    });
  }

  /** A worker's socket arrived on the master socket; it must say who it is. */
  private accept(fd: number): void {
    let worker: Worker | null = null;
    const socket: WorkerSocket = new WorkerSocket(fd, socketType(fd), {
      message: (message) => {
        if (worker === null) worker = this.identify(socket, message);
        else this.onMessage(worker, message);
      },
      fd: (received) => this.onFd(worker, received),
      failed: (reason) => {
        clearTimeout(identityTimer);
        if (worker === null) this.refuseUnidentified(reason);
        else if (this.workers.get(worker.node) === worker) this.crash(worker.node, reason);
      },
      ended: () => {
        clearTimeout(identityTimer);
        if (worker !== null && this.workers.get(worker.node) === worker) this.workerExited(worker, "closed its socket");
      },
    });
    const identityTimer = setTimeout(() => {
      if (worker !== null) return;
      socket.close();
      this.options.log(`dropped a worker socket: no P: message within ${IDENTITY_TIMEOUT_MS} ms`);
    }, IDENTITY_TIMEOUT_MS);
  }

  /** The first message on a worker socket: `P:`. Returns the worker it belongs to, or null after refusing it. */
  private identify(socket: WorkerSocket, message: WorkerMessage): Worker | null {
    if (message.kind !== "identity") {
      socket.close();
      this.refuseUnidentified(
        `worker sent ${message.kind === "exit" ? "an exit code" : `a ${message.kind} message`} before P:`,
      );
      return null;
    }
    const node = message.identifier === "" ? this.tree.root : this.tree.nodes.get(message.identifier);
    const worker = node === undefined ? undefined : this.workers.get(node);
    if (worker === undefined || worker.socket !== null || worker.node.state !== "booting") {
      socket.close();
      killQuietly(message.pid, "SIGKILL");
      this.options.log(
        `killed pid ${message.pid}: it registered as ${JSON.stringify(message.identifier || "(root)")}, which nobody asked for`,
      );
      return null;
    }
    worker.socket = socket;
    worker.generation = message.parentPid === null ? "classic" : "modern";
    worker.expectsFeaturePipe = worker.generation === "modern";
    worker.watchExit(message.pid, () => {
      if (this.workers.get(worker.node) === worker) this.workerExited(worker, "exit");
    });
    worker.node.pid = message.pid;
    this.options.onNodeChange(worker.node);
    return worker;
  }

  /**
   * A socket broke the protocol before saying who it is. When only one node
   * waits for its worker, that node is crashed with the reason, so users see
   * it; otherwise nobody can tell whose it was, and the log says so.
   */
  private refuseUnidentified(reason: string): void {
    const waiting = [...this.workers.values()].filter(
      (worker) => worker.socket === null && worker.node.state === "booting",
    );
    if (waiting.length === 1) return this.crash((waiting[0] as Worker).node, reason);
    this.options.log(`dropped a worker socket: ${reason}`);
  }

  private onMessage(worker: Worker, message: WorkerMessage): void {
    if (this.workers.get(worker.node) !== worker) return;
    const node = worker.node;
    switch (message.kind) {
      case "feature":
        return this.addFile(node, message.path);
      case "result":
        if (node.state !== "booting")
          return this.crash(node, `worker sent a second result: R:${message.error ?? "OK"}`);
        if (message.error !== null) return this.crash(node, message.error);
        worker.clearTimer();
        this.readySince.set(node, Date.now());
        node.bootMs = Date.now() - node.bootStartedAt;
        this.setState(node, "ready", null);
        for (const child of node.children) this.boot(child);
        return;
      default:
        return this.crash(
          node,
          `worker sent ${message.kind === "identity" ? "a second P: message" : "an exit code"} out of turn`,
        );
    }
  }

  private onFd(worker: Worker | null, fd: number): void {
    if (worker?.expectsFeaturePipe) {
      worker.expectsFeaturePipe = false;
      return worker.readFeatures(fd, (path) => this.addFile(worker.node, path));
    }
    if (worker?.takeRunnerSocket(fd)) return;
    closeQuietly(fd);
    if (worker !== null) this.crash(worker.node, "worker sent a file descriptor nobody asked for");
  }

  private addFile(node: TreeNode, path: string): void {
    if (node !== this.tree.root && this.declared.delete(path)) this.tree.root.files.delete(path);
    if (node.files.has(path)) return;
    node.files.add(path);
    this.options.onFile(path);
  }

  private workerExited(worker: Worker, how: string): void {
    const node = worker.node;
    if (node.state === "booting") return this.crash(node, `worker exited (${how}) before it reported a result`);
    if (node.state !== "ready") return;
    if (Date.now() - (this.readySince.get(node) ?? 0) < MIN_HEALTHY_MS) {
      return this.crash(node, `worker died (${how}) right after it booted`);
    }
    this.options.log(`${node.name} died (${how}); rebooting it`);
    this.restartSubtree(node, "worker died");
  }

  /** The node is crashed and its descendants wait for it; their workers are killed. */
  private crash(node: TreeNode, error: string): void {
    if (node.state === "crashed") return;
    this.options.log(`${node.name} crashed: ${crashLine(error)}`);
    for (const path of filesNamedIn(error)) this.addFile(node, path);
    for (const member of node.subtree()) {
      const worker = this.workers.get(member);
      if (worker !== undefined) {
        worker.clearTimer();
        // The crashed worker may still be sending its loaded files.
        if (member === node && worker.pid !== null) setTimeout(() => worker.dispose("SIGKILL"), CRASH_GRACE_MS).unref();
        else worker.dispose("SIGKILL");
      }
      this.setState(member, member === node ? "crashed" : "waiting", member === node ? error : null);
    }
  }

  /** The root's whole process group, its shell too: a shell whose child is killed would print "Killed". */
  private killRootGroup(): void {
    if (this.rootProcess?.pid !== undefined) killQuietly(-this.rootProcess.pid, "SIGKILL");
  }

  private restartSubtree(node: TreeNode, why: string): void {
    this.options.log(`restarting ${node.name}: ${why}`);
    if (node === this.tree.root) this.killRootGroup();
    // Those below restart with it; after a crash they were waiting for it.
    const below = node.state === "crashed" ? `${node.name} crashed` : `${node.name} restarted`;
    for (const member of node.subtree()) {
      member.restartReason = member === node ? why : below;
      this.workers.get(member)?.dispose("SIGKILL");
      this.workers.delete(member);
      this.setState(member, "unbooted", null);
    }
    this.boot(node);
  }

  /** A path as users know it: relative to the plan's directory when it is inside. */
  private fromPlan(path: string): string {
    const inside = relative(dirname(this.plan.path), path);
    return inside.startsWith("..") || isAbsolute(inside) ? path : inside;
  }

  private setState(node: TreeNode, state: NodeState, error: string | null): void {
    if (node.state === state && node.error === error) return;
    node.state = state;
    node.error = error;
    if (state !== "booting" && state !== "ready") node.pid = null;
    this.options.onNodeChange(node);
    for (const check of [...this.settleWaiters]) check();
  }
}

/** Absolute paths of existing files in a crash report (Python and Ruby backtraces), so fixing them reboots the node. */
function filesNamedIn(report: string): string[] {
  const candidates = report.match(/\/[^\s:"'()<>,]+/g) ?? [];
  return [...new Set(candidates)].filter((path) => /\.\w+$/.test(path) && existsSync(path));
}

/** The error in one line for the log: a Python traceback's last line (the exception itself), else the first. */
function crashLine(error: string): string {
  const lines = error.split("\n").filter((line) => line.trim() !== "");
  return ((lines[0]?.startsWith("Traceback") ? lines.at(-1) : lines[0]) ?? "").trim();
}
