/**
 * The dashboard: a control that watches the cluster. It asks for the token
 * once (kept in sessionStorage), loads the state with requests after each
 * `ready`, then follows the master's events.
 */
import { ControlSession, socketUrl } from "./session.js";
import { renderSuites, suiteProgress } from "./suites.js";
import { errorKey, refreshAges, renderCommands, renderSlaves } from "./view.js";

const TOKEN_KEY = "olympus-token";

const page = {
  connection: document.getElementById("connection"),
  forgetToken: document.getElementById("forget-token"),
  login: document.getElementById("login"),
  token: document.getElementById("token"),
  loginError: document.getElementById("login-error"),
  cluster: document.getElementById("cluster"),
  slaves: document.getElementById("slaves"),
  commands: document.getElementById("commands"),
  suites: document.getElementById("suites"),
};

/** What the master told us; slaves and trees by slave name, commands by id. */
const cluster = {
  slaves: new Map(),
  trees: new Map(),
  commands: new Map(),
  /** Test suites by id, in the order first heard of. */
  suites: new Map(),
  /** Crashed nodes whose error text is unfolded, by errorKey. */
  openErrors: new Set(),
};

let renderQueued = false;
function render() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderSlaves(page.slaves, cluster);
    renderCommands(page.commands, cluster.commands);
    renderSuites(page.suites, cluster.suites);
  });
}

function showConnection(text, state) {
  page.connection.textContent = text;
  page.connection.className = `connection ${state}`;
  page.cluster.classList.toggle("stale", state !== "up");
}

/**
 * After each (re)connect: subscribe first, then load. Each answer replaces its
 * part of the state as soon as it arrives, since it is newer than every event
 * before it and older than every event after it.
 */
async function load(master) {
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
  },
  slave_event({ slave, connected }) {
    if (connected) return void cluster.slaves.set(slave.name, slave);
    cluster.slaves.delete(slave.name);
    cluster.trees.delete(slave.name);
  },
  command_event({ command, running }) {
    if (running) cluster.commands.set(command.command_id, command);
    else cluster.commands.delete(command.command_id);
  },
  test_progress_event(progress) {
    suiteProgress(cluster.suites, progress);
  },
};

function connect(token) {
  page.login.hidden = true;
  page.cluster.hidden = false;
  page.forgetToken.hidden = false;
  showConnection("connecting…", "down");
  const master = new ControlSession(socketUrl(location), token, {
    // A failure here is a lost connection (reported by `down`) or a bug.
    ready: () => load(master).catch((error) => console.error("loading the cluster state failed:", error)),
    event(type, data) {
      onEvent[type]?.(data);
      render();
    },
    down: (text) => showConnection(`disconnected: ${text}`, "down"),
    refused(reason) {
      sessionStorage.removeItem(TOKEN_KEY);
      askForToken(`The master refused the token (${reason}).`);
    },
  });
  master.open();
}

function askForToken(error = "") {
  page.cluster.hidden = true;
  page.forgetToken.hidden = true;
  page.login.hidden = false;
  page.loginError.textContent = error;
  showConnection("not connected", "down");
  page.token.focus();
}

page.login.addEventListener("submit", (submitted) => {
  submitted.preventDefault();
  const token = page.token.value.trim();
  sessionStorage.setItem(TOKEN_KEY, token);
  page.token.value = "";
  connect(token);
});

page.forgetToken.addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  location.reload();
});

page.slaves.addEventListener("click", (clicked) => {
  const button = clicked.target.closest("button.node");
  if (button === null) return;
  const key = errorKey(button.closest("[data-slave]").dataset.slave, button.dataset.node);
  if (!cluster.openErrors.delete(key)) cluster.openErrors.add(key);
  render();
});

setInterval(refreshAges, 1000);

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved === null) askForToken();
else connect(saved);
