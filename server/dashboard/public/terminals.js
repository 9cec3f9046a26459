/**
 * The terminal panel: one tab per command started from the page, each a
 * RemoteTerminal. Command events from the master reach their terminal by
 * command id.
 */
import { RecordedTerminal, RemoteTerminal } from "./terminal.js";

/** Splits a command line as a shell would for plain words: spaces separate, quotes and backslashes keep. */
export function splitWords(line) {
  const words = [];
  let word = null;
  let quote = null;
  for (let index = 0; index < line.length; index++) {
    const char = line[index];
    if (quote !== null && char === quote) quote = null;
    else if (quote === "'") word += char;
    else if (char === "\\" && index + 1 < line.length) word = (word ?? "") + line[++index];
    else if (quote === null && (char === "'" || char === '"')) {
      quote = char;
      word ??= "";
    } else if (quote === null && /\s/.test(char)) {
      if (word !== null) words.push(word);
      word = null;
    } else word = (word ?? "") + char;
  }
  if (quote !== null) throw new Error(`unclosed ${quote}`);
  if (word !== null) words.push(word);
  return words;
}

export class Terminals {
  #master;
  /** By command id, in the order opened. */
  #open = new Map();
  #selected = null;

  /** `master`: the session commands are sent on; it registers anew by itself if the master forgets it. */
  constructor(master, { section, tabs, panels }) {
    this.#master = master;
    this.section = section;
    this.tabs = tabs;
    this.panels = panels;
    tabs.addEventListener("click", (clicked) => {
      const tab = clicked.target.closest("[data-terminal]");
      if (tab === null) return;
      const action = clicked.target.closest("[data-action]")?.dataset.action;
      const terminal = this.#open.get(tab.dataset.terminal);
      if (action === "close") this.#close(terminal);
      else if (action === "kill") terminal.signal("SIGKILL");
      else this.#select(terminal);
    });
  }

  /** Starts a command on a slave in a new tab, selected. */
  open(slave, target) {
    const terminal = this.#add(
      (panel) => new RemoteTerminal(this.#master, panel, slave, target, () => this.#renderTab(terminal)),
    );
    void terminal.start();
  }

  /** A history entry's kept output, read-only, in a tab of its own (the one already open, if it is). */
  showRecorded(entry, output) {
    const open = this.#open.get(`history-${entry.command_id}`);
    if (open !== undefined) return this.#select(open);
    this.#add((panel) => new RecordedTerminal(panel, entry, output));
  }

  /** A new tab and its panel, selected, for the terminal that `make(panel)` mounts there. */
  #add(make) {
    const panel = document.createElement("div");
    panel.className = "terminal-panel";
    panel.setAttribute("role", "tabpanel");
    this.panels.append(panel);
    this.section.hidden = false;
    const terminal = make(panel);
    terminal.panel = panel;
    terminal.tab = document.createElement("div");
    terminal.tab.className = "tab";
    terminal.tab.dataset.terminal = terminal.id;
    panel.dataset.terminal = terminal.id;
    this.tabs.append(terminal.tab);
    this.#open.set(terminal.id, terminal);
    this.#renderTab(terminal);
    this.#select(terminal);
    return terminal;
  }

  /** A `command_*_event` for one of ours; others are not this page's. */
  event(type, data) {
    const terminal = this.#open.get(data.command_id);
    if (terminal === undefined) return;
    // Output comes as binary frames, but as JSON from a slave that does not take them.
    if (type === "command_output_event") terminal.output(Uint8Array.fromBase64(data.data));
    else if (type === "command_ack_event") terminal.inputAcknowledged(data.bytes);
    else if (type === "command_exit_event") terminal.exit(data);
  }

  /** A command's output from a binary frame. */
  bytes({ commandId, payload }) {
    this.#open.get(commandId)?.output(payload);
  }

  /** The session is gone, and with it every command it ran. */
  lost(reason) {
    for (const terminal of this.#open.values()) terminal.lost(reason);
  }

  /** Signing out: every tab closes, and its command hangs up. */
  closeAll() {
    for (const terminal of [...this.#open.values()]) this.#close(terminal);
  }

  #select(terminal) {
    this.#selected = terminal;
    for (const open of this.#open.values()) {
      const selected = open === terminal;
      open.panel.hidden = !selected;
      open.tab.classList.toggle("selected", selected);
      open.tab.querySelector(".tab-label").setAttribute("aria-selected", String(selected));
    }
    // It may have been asked for far from the panel (a history row at the page's foot): bring the tabs and
    // the panel into view, or the user sees nothing happen (and xterm draws nothing while it is off-screen).
    this.section.scrollIntoView({ block: "nearest" });
    terminal.focus();
  }

  #close(terminal) {
    terminal.dispose();
    terminal.tab.remove();
    terminal.panel.remove();
    this.#open.delete(terminal.id);
    if (this.#selected !== terminal) return;
    const last = [...this.#open.values()].at(-1);
    if (last === undefined) this.section.hidden = true;
    else this.#select(last);
  }

  #renderTab(terminal) {
    const label = button("tab-label", `${terminal.slave}: ${terminal.label}`);
    label.setAttribute("role", "tab");
    label.setAttribute("aria-selected", String(this.#selected === terminal));
    const status = document.createElement("span");
    status.className = `tab-status ${terminal.state}`;
    status.textContent = terminal.state === "ended" ? terminal.exitText : terminal.state;
    if (terminal.exitCode !== undefined && terminal.exitCode !== null) status.dataset.exitCode = terminal.exitCode;
    const kill = terminal.state === "running" ? button("tab-kill", "kill", "kill") : null;
    const close = button("tab-close", "×", "close");
    close.setAttribute("aria-label", "close this terminal");
    terminal.tab.replaceChildren(...[label, status, kill, close].filter((node) => node !== null));
  }
}

function button(className, text, action) {
  const node = document.createElement("button");
  node.type = "button";
  node.className = className;
  node.textContent = text;
  if (action !== undefined) node.dataset.action = action;
  return node;
}
