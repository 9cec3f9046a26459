/**
 * Draws the cluster into the page. The page is small, so each change rebuilds
 * its section; ages tick in place (`data-since`) so a rebuild is not needed
 * every second.
 */

/** `element("li", {class: "x"}, child, "text", …)`; null and false children are skipped. */
export function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children.filter((child) => child !== null && child !== false));
  return node;
}

/** A span showing the time since `isoTime`, kept current by `refreshAges`. */
function age(isoTime) {
  return element("span", { "data-since": isoTime }, formatAge(isoTime));
}

function formatAge(isoTime) {
  const seconds = Math.max(0, Math.floor((Date.now() - Date.parse(isoTime)) / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ${Math.floor(seconds / 60) % 60}m`;
  return `${Math.floor(seconds / 86400)}d ${Math.floor(seconds / 3600) % 24}h`;
}

export function refreshAges() {
  for (const span of document.querySelectorAll("[data-since]")) span.textContent = formatAge(span.dataset.since);
}

/** Every slave known from list_slaves, slave events or trees, with its process tree. */
export function renderSlaves(container, { slaves, trees, openErrors }) {
  const names = [...new Set([...slaves.keys(), ...trees.keys()])].sort();
  if (names.length === 0) return container.replaceChildren(element("p", { class: "empty" }, "No slaves connected."));
  container.replaceChildren(
    ...names.map((name) =>
      slaveCard(name, slaves.get(name), trees.get(name) ?? { nodes: [], commands: [] }, openErrors),
    ),
  );
}

function slaveCard(name, info, tree, openErrors) {
  const details =
    info === undefined
      ? null
      : element(
          "span",
          { class: "meta", title: info.agent },
          `${info.address} · version ${info.version} · up `,
          age(info.connected_at),
        );
  return element(
    "article",
    { class: "slave", "data-slave": name },
    element("header", {}, element("h3", {}, name), details),
    tree.nodes.length === 0
      ? element("p", { class: "empty" }, "No process tree reported yet.")
      : nodeList(name, tree.nodes, null, openErrors),
    planCommands(tree),
  );
}

/** The children of `parent` (the roots for null), each with its own subtree. */
function nodeList(slave, nodes, parent, openErrors) {
  const children = nodes.filter((node) => node.parent === parent);
  if (children.length === 0) return null;
  return element("ul", { class: "tree" }, ...children.map((node) => nodeItem(slave, nodes, node, openErrors)));
}

function nodeItem(slave, nodes, node, openErrors) {
  const crashed = node.state === "crashed";
  // A crashed node is a button: a click shows or hides its error text.
  const title = crashed ? "crashed: click for the error text" : node.state;
  const label = element(
    crashed ? "button" : "span",
    { class: `node state ${node.state}`, "data-node": node.name, title },
    node.name,
  );
  if (crashed) label.setAttribute("type", "button");
  const showError = crashed && node.error !== null && openErrors.has(errorKey(slave, node.name));
  return element(
    "li",
    {},
    label,
    node.pid === null ? null : element("span", { class: "pid" }, `pid ${node.pid}`),
    showError ? element("pre", { class: "node-error" }, node.error.trimEnd()) : null,
    nodeList(slave, nodes, node.name, openErrors),
  );
}

export function errorKey(slave, node) {
  return `${slave}\n${node}`;
}

/** The plan's commands, coloured like the node they run from, as `zeus start` shows them. */
function planCommands(tree) {
  if (tree.commands.length === 0) return null;
  const states = new Map(tree.nodes.map((node) => [node.name, node.state]));
  return element(
    "p",
    { class: "plan-commands" },
    "commands: ",
    ...tree.commands.map((command) => {
      const aliases = command.aliases.length === 0 ? "" : ` (${command.aliases.join(", ")})`;
      return element(
        "span",
        { class: `command state ${states.get(command.parent) ?? "unbooted"}` },
        command.name + aliases,
      );
    }),
  );
}

/** The commands running now, oldest first. */
export function renderCommands(tbody, commands) {
  const rows = [...commands.values()].sort((a, b) => a.started_at.localeCompare(b.started_at));
  if (rows.length === 0) {
    return tbody.replaceChildren(
      element("tr", {}, element("td", { class: "empty", colspan: "3" }, "No commands running.")),
    );
  }
  tbody.replaceChildren(
    ...rows.map((command) =>
      element(
        "tr",
        { "data-command": command.command_id },
        element("td", {}, command.slave),
        element("td", {}, element("code", {}, commandLine(command.argv))),
        element("td", {}, age(command.started_at)),
      ),
    ),
  );
}

/** argv as a shell would take it back: arguments with spaces or quotes are single-quoted. */
function commandLine(argv) {
  return argv.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`)).join(" ");
}
