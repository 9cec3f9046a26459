/**
 * The dashboard: a control in the browser. It signs in by the link's token
 * or a pasted one, loads the state with requests after each registration,
 * follows the master's events, and, for roles that may, restarts phases,
 * signals commands and runs them in terminals on the page.
 */
import { Charts } from "./charts.js";
import { HistoryView } from "./history.js";
import { ControlSession, socketUrl } from "./session.js";
import { forgetToken, onSignOutElsewhere, saveToken, takeToken } from "./sign-in.js";
import { renderSuites, suiteProgress } from "./suites.js";
import { splitWords, Terminals } from "./terminals.js";
import { errorKey, mayAct, refreshAges, renderCommands, renderSlaves } from "./view.js";

const byId = (id) => document.getElementById(id);
const page = {
  connection: byId("connection"),
  identity: byId("identity"),
  signOut: byId("sign-out"),
  login: byId("login"),
  token: byId("token"),
  loginError: byId("login-error"),
  cluster: byId("cluster"),
  slaves: byId("slaves"),
  actionError: byId("action-error"),
  commands: byId("commands"),
  suites: byId("suites"),
  launcher: byId("launcher"),
  runSlave: byId("run-slave"),
  runArgs: byId("run-args"),
  execForm: byId("exec-form"),
  execLine: byId("exec-line"),
};

/** What the master told us; slaves and trees by slave name, commands by id; the role our token has. */
const cluster = {
  slaves: new Map(),
  trees: new Map(),
  commands: new Map(),
  /** Test suites by id, in the order first heard of. */
  suites: new Map(),
  /** Crashed nodes whose error text is unfolded, by errorKey. */
  openErrors: new Set(),
  role: "viewer",
  /** The phases' changes of state over the last hour, oldest first, for the timeline. */
  timeline: [],
};

let master = null;
let terminals = null;
let historyView = null;
const charts = new Charts({ timeline: byId("timeline"), activity: byId("activity") });

let renderQueued = false;
function render() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderSlaves(page.slaves, cluster);
    renderSuites(page.suites, cluster.suites);
    renderCommands(page.commands, cluster.commands, cluster.role);
    renderSlaveChoice();
    charts.update(cluster.timeline, historyView?.entries ?? []);
  });
}

/** The Exec field's slave list, keeping the choice while that slave stays. */
function renderSlaveChoice() {
  const names = [...cluster.slaves.keys()].sort();
  const chosen = page.runSlave.value;
  page.runSlave.replaceChildren(...names.map((name) => new Option(name, name, false, name === chosen)));
}

function showConnection(text, state) {
  page.connection.textContent = text;
  page.connection.className = `connection ${state}`;
  page.cluster.classList.toggle("stale", state !== "up");
}

function showIdentity({ role, token_name }) {
  cluster.role = role;
  page.identity.textContent = `${token_name ?? "shared token"} · ${role}`;
  page.identity.hidden = false;
  page.launcher.hidden = !mayAct(role);
}

/**
 * After each registration: subscribe first, then load. Each answer replaces
 * its part of the state as soon as it arrives, since it is newer than every
 * event before it and older than every event after it.
 */
async function load() {
  await master.request("watch");
  await Promise.all([
    master.request("list_slaves").then(({ slaves }) => {
      cluster.slaves = new Map(slaves.map((slave) => [slave.name, slave]));
    }),
    master.request("status").then(({ trees }) => {
      cluster.trees = new Map(trees.map(({ slave, nodes, commands }) => [slave, { nodes, commands }]));
    }),
    master.request("commands").then(({ commands }) => {
      cluster.commands = new Map(commands.map((command) => [command.command_id, command]));
    }),
    historyView.load(),
    master.request("timeline").then(({ events }) => {
      cluster.timeline = events;
    }),
  ]);
  render();
  showConnection("connected", "up");
}

const onEvent = {
  tree_event({ slave, nodes, commands }) {
    cluster.trees.set(slave, { nodes, commands });
  },
  node_state_event({ slave, node }) {
    const tree = cluster.trees.get(slave) ?? { nodes: [], commands: [] };
    const index = tree.nodes.findIndex((known) => known.name === node.name);
    if (index >= 0) tree.nodes[index] = node;
    else tree.nodes.push(node);
    cluster.trees.set(slave, tree);
    // As the master's timeline keeps it: the reason on booting, the boot's time on ready.
    const change = { slave, node: node.name, state: node.state, at: new Date().toISOString() };
    if (node.state === "booting" && node.restart_reason != null) change.reason = node.restart_reason;
    if (node.state === "ready" && node.boot_ms != null) change.boot_ms = node.boot_ms;
    cluster.timeline.push(change);
  },
  slave_event({ slave, connected }) {
    if (connected) return void cluster.slaves.set(slave.name, slave);
    cluster.slaves.delete(slave.name);
    cluster.trees.delete(slave.name);
  },
  command_event({ command, running }) {
    if (running) return void cluster.commands.set(command.command_id, command);
    cluster.commands.delete(command.command_id);
    historyView.commandEnded();
  },
  test_progress_event(progress) {
    suiteProgress(cluster.suites, progress);
  },
};

function connect(token) {
  page.login.hidden = true;
  page.cluster.hidden = false;
  page.signOut.hidden = false;
  showConnection("connecting…", "down");
  master = new ControlSession(socketUrl(location), token, {
    ready(identity) {
      showIdentity(identity);
      // A failure here is a lost connection (reported by `down`) or a bug.
      load().catch((error) => console.error("loading the cluster state failed:", error));
    },
    resumed: () => showConnection("connected", "up"),
    event(type, data) {
      if (type.startsWith("command_") && type !== "command_event") return terminals.event(type, data);
      onEvent[type]?.(data);
      render();
    },
    bytes: (frame) => terminals.bytes(frame),
    down: (text) => showConnection(`disconnected: ${text}`, "down"),
    lost: (reason) => terminals.lost(reason),
    refused(reason) {
      forgetToken();
      askForToken(`The master refused the token (${reason}).`);
    },
  });
  terminals = new Terminals(master, {
    section: byId("terminals"),
    tabs: byId("terminal-tabs"),
    panels: byId("terminal-panels"),
  });
  historyView = new HistoryView(
    master,
    { filter: byId("history-filter"), rows: byId("history") },
    (entry) =>
      act(
        master
          .request("history_output", { command_id: entry.command_id })
          .then(({ output }) => terminals.showRecorded(entry, Uint8Array.fromBase64(output))),
      ),
    render,
  );
  master.open();
}

function askForToken(error = "") {
  page.cluster.hidden = true;
  page.signOut.hidden = true;
  page.identity.hidden = true;
  page.login.hidden = false;
  page.loginError.textContent = error;
  showConnection("not connected", "down");
  page.token.focus();
}

function signOut() {
  forgetToken();
  terminals?.closeAll();
  master?.stop("signed out");
  location.reload();
}

/** An action's error, on one line under the slaves; the next action clears it. */
function act(promise) {
  page.actionError.textContent = "";
  promise.catch((error) => {
    page.actionError.textContent = error.message;
  });
}

/** A command line from a field, or its error shown and null. */
function words(field) {
  try {
    return splitWords(field.value);
  } catch (error) {
    page.actionError.textContent = `${field.name}: ${error.message}`;
    return null;
  }
}

page.login.addEventListener("submit", (submitted) => {
  submitted.preventDefault();
  const token = page.token.value.trim();
  saveToken(token);
  page.token.value = "";
  connect(token);
});

page.signOut.addEventListener("click", signOut);
onSignOutElsewhere(() => location.reload());

page.slaves.addEventListener("click", (clicked) => {
  const slave = clicked.target.closest("[data-slave]")?.dataset.slave;
  const run = clicked.target.closest("button[data-command]");
  const restart = clicked.target.closest("button[data-restart]");
  const crashed = clicked.target.closest("button.node");
  if (run !== null) {
    const args = words(page.runArgs);
    if (args !== null) terminals.open(slave, { kind: "run", command: run.dataset.command, args });
  } else if (restart !== null) {
    const node = restart.dataset.restart === "" ? undefined : restart.dataset.restart;
    act(master.request("restart", { slave, node }));
  } else if (crashed !== null) {
    const key = errorKey(slave, crashed.dataset.node);
    if (!cluster.openErrors.delete(key)) cluster.openErrors.add(key);
    render();
  }
});

page.execForm.addEventListener("submit", (submitted) => {
  submitted.preventDefault();
  const argv = words(page.execLine);
  if (argv === null || argv.length === 0 || page.runSlave.value === "") return;
  terminals.open(page.runSlave.value, { kind: "exec", program: argv[0], args: argv.slice(1) });
});

page.commands.addEventListener("click", (clicked) => {
  const button = clicked.target.closest("button[data-signal]");
  if (button === null) return;
  const command_id = button.closest("[data-command-id]").dataset.commandId;
  master.event("command_signal", { command_id, signal: button.dataset.signal });
});

setInterval(refreshAges, 1000);
// The pictures' hour slides on even when nothing happens.
setInterval(render, 30_000);

// A link opened in a tab already on the page changes only the fragment: sign in with its token afresh.
addEventListener("hashchange", () => {
  if (new URLSearchParams(location.hash.slice(1)).has("token")) location.reload();
});

const saved = takeToken(location, history);
if (saved === null) askForToken();
else connect(saved);
