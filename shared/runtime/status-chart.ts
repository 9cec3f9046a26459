import pc from "picocolors";
import type { NodeState as State, SlaveTree as Tree, TreeNode as TreeNodeData } from "../protocol/messages.js";

/** Zeus's colours: ready green, booting yellow, crashed red, unbooted grey; waiting (under a crashed phase) grey too. */
function paint(colors: ReturnType<typeof pc.createColors>, state: State, text: string): string {
  const byState: Record<State, (text: string) => string> = {
    ready: colors.green,
    booting: colors.yellow,
    crashed: colors.red,
    unbooted: colors.gray,
    waiting: colors.gray,
  };
  return byState[state](text);
}

export interface ChartOptions {
  color: boolean;
  /** Print each crashed node's error text under it; `brief`: its last line only, and where to read the rest. */
  errors: boolean | "brief";
}

/** The tree as `zeus start` draws it: phases indented under their parents, then the commands. */
export function renderTree(tree: Tree, { color, errors }: ChartOptions): string {
  const colors = pc.createColors(color);
  const byName = new Map(tree.nodes.map((node) => [node.name, node]));
  const lines = [colors.bold(`${tree.slave}`)];
  const visit = (node: TreeNodeData, depth: number) => {
    const pid = node.pid === null ? "" : colors.dim(` pid ${node.pid}`);
    const crashReport = errors !== false && node.error !== null && node.state === "crashed";
    // On the node's line, which is short, so a narrow screen that cuts the report still shows where to read it.
    const hint = crashReport && errors === "brief" ? colors.dim(" (control status --errors)") : "";
    lines.push(
      `${"  ".repeat(depth + 1)}${paint(colors, node.state, node.name)} ${colors.dim(`[${node.state}]`)}${pid}${hint}`,
    );
    if (crashReport) {
      const text = (node.error as string).trimEnd().split("\n");
      for (const line of errors === "brief" ? text.slice(-1) : text)
        lines.push(`${"  ".repeat(depth + 3)}${colors.red(line)}`);
    }
    for (const child of tree.nodes) if (child.parent === node.name) visit(child, depth + 1);
  };
  for (const root of tree.nodes.filter((node) => node.parent === null)) visit(root, 0);
  if (tree.commands.length > 0) {
    lines.push(`  ${colors.bold("commands")}`);
    for (const command of tree.commands) {
      const state = byName.get(command.parent)?.state ?? "unbooted";
      const aliases = command.aliases.length === 0 ? "" : colors.dim(` (${command.aliases.join(", ")})`);
      lines.push(`    ${paint(colors, state, command.name)}${aliases}`);
    }
  }
  return lines.join("\n");
}

/** One line for `control watch`. */
export function renderChange(slave: string, node: TreeNodeData, color: boolean): string {
  const colors = pc.createColors(color);
  const error = node.state === "crashed" && node.error !== null ? `: ${node.error.trimEnd().split("\n").at(-1)}` : "";
  const pid = node.pid === null ? "" : ` (pid ${node.pid})`;
  return `${new Date().toISOString().slice(11, 23)} ${slave} ${node.name} ${paint(colors, node.state, node.state)}${pid}${error}`;
}
