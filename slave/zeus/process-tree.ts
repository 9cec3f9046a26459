import type { TreeNode as NodeSnapshot, NodeState, SlaveTree } from "../../shared/protocol/messages.js";
import type { Plan, PlanCommand } from "./config.js";

export type TreeSnapshot = Omit<SlaveTree, "slave">;

/** A phase of the plan and what is known of its worker. */
export class TreeNode {
  readonly children: TreeNode[] = [];
  state: NodeState = "unbooted";
  pid: number | null = null;
  error: string | null = null;
  /** Files the worker loaded, and those its crash report names. */
  readonly files = new Set<string>();
  /** When its worker last started booting, and how long that boot took once it was ready. */
  bootStartedAt = 0;
  bootMs: number | null = null;
  /** Why it last restarted: a changed file, a request, a parent's restart or crash; null before the first. */
  restartReason: string | null = null;

  constructor(
    readonly name: string,
    readonly parent: TreeNode | null,
  ) {}

  /** This node, then every descendant, parents before children. */
  *subtree(): Generator<TreeNode> {
    yield this;
    for (const child of this.children) yield* child.subtree();
  }

  /** Ready, crashed, or waiting on a crashed ancestor: no boot is under way. */
  get settled(): boolean {
    return this.state === "ready" || this.state === "crashed" || this.state === "waiting";
  }

  /** This node or the ancestor whose crash it waits on; null when neither crashed. */
  crashedAncestry(): TreeNode | null {
    for (let node: TreeNode | null = this; node !== null; node = node.parent) if (node.state === "crashed") return node;
    return null;
  }

  isAncestorOf(other: TreeNode): boolean {
    for (let node = other.parent; node !== null; node = node.parent) if (node === this) return true;
    return false;
  }

  snapshot(): NodeSnapshot {
    return {
      name: this.name,
      parent: this.parent?.name ?? null,
      state: this.state,
      pid: this.pid,
      error: this.error,
      boot_ms: this.bootMs,
      restart_reason: this.restartReason,
    };
  }
}

/** The plan as a tree of phases, with the commands that hang off them. */
export class ProcessTree {
  readonly root: TreeNode;
  readonly nodes = new Map<string, TreeNode>();
  readonly commands: PlanCommand[];

  constructor(plan: Plan) {
    for (const phase of plan.phases) {
      const parent = phase.parent === null ? null : (this.nodes.get(phase.parent) as TreeNode);
      const node = new TreeNode(phase.name, parent);
      parent?.children.push(node);
      this.nodes.set(phase.name, node);
    }
    this.root = this.nodes.get((plan.phases[0] as { name: string }).name) as TreeNode;
    this.commands = plan.commands;
  }

  find(name: string): TreeNode {
    const node = this.nodes.get(name);
    if (node === undefined)
      throw new Error(`no phase named ${JSON.stringify(name)}; phases: ${[...this.nodes.keys()].join(", ")}`);
    return node;
  }

  /** For each changed file, the highest nodes that loaded it: restarting them covers every node that did. */
  highestLoading(paths: Iterable<string>): TreeNode[] {
    const loading = new Set<TreeNode>();
    for (const path of paths) for (const node of this.nodes.values()) if (node.files.has(path)) loading.add(node);
    return [...loading].filter((node) => ![...loading].some((other) => other.isAncestorOf(node)));
  }

  snapshot(): TreeSnapshot {
    return { nodes: [...this.root.subtree()].map((node) => node.snapshot()), commands: this.commands };
  }
}
