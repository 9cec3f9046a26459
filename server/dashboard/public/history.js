/**
 * The history table: the commands that ended, newest first, as the master
 * keeps them. A filter narrows the rows by any of their words; a click on a
 * command shows its kept output in a read-only terminal.
 */
import { element } from "./view.js";

/** Asked again at most this often while commands keep ending. */
const REFRESH_MS = 1000;

export class HistoryView {
  #master;
  #entries = [];
  #timer = null;

  /** `show(entry)`: the user asked for an entry's output; `loaded()`: the entries are new. */
  constructor(master, { filter, rows }, show, loaded) {
    this.#master = master;
    this.loaded = loaded;
    this.filter = filter;
    this.rows = rows;
    filter.addEventListener("input", () => this.#render());
    rows.addEventListener("click", (clicked) => {
      const id = clicked.target.closest("button[data-history]")?.dataset.history;
      const entry = this.#entries.find((kept) => kept.command_id === id);
      if (entry !== undefined) show(entry);
    });
  }

  /** The commands that ended, oldest first. */
  get entries() {
    return this.#entries;
  }

  /** Loads the table now. */
  async load() {
    this.#entries = (await this.#master.request("history")).entries;
    this.#render();
    this.loaded();
  }

  /** A command ended: load again soon, once for a burst of them. */
  commandEnded() {
    this.#timer ??= setTimeout(() => {
      this.#timer = null;
      this.load().catch((error) => console.error("loading the history failed:", error));
    }, REFRESH_MS);
  }

  #render() {
    const words = this.filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    const shown = this.#entries.filter((entry) => words.every((word) => searchText(entry).includes(word))).reverse();
    if (shown.length === 0) {
      const text = this.#entries.length === 0 ? "No command has ended yet." : "No command matches.";
      return this.rows.replaceChildren(element("tr", {}, element("td", { class: "empty", colspan: "6" }, text)));
    }
    this.rows.replaceChildren(...shown.map(historyRow));
  }
}

function searchText(entry) {
  return [entry.slave, entry.who, entry.command, exitText(entry)].join(" ").toLowerCase();
}

function exitText(entry) {
  return entry.exit_code === null ? "lost" : `exit ${entry.exit_code}`;
}

function historyRow(entry) {
  const started = new Date(entry.started);
  return element(
    "tr",
    { "data-command-id": entry.command_id },
    element("td", { title: entry.started }, started.toLocaleString()),
    element("td", {}, entry.slave),
    element("td", {}, entry.who),
    element(
      "td",
      {},
      element(
        "button",
        { type: "button", class: "history-open", "data-history": entry.command_id, title: "show its output" },
        element("code", {}, entry.command),
      ),
    ),
    element("td", {}, `${entry.duration.toFixed(1)} s`),
    element("td", { class: entry.exit_code === 0 ? "exit ok" : "exit failed" }, exitText(entry)),
  );
}
