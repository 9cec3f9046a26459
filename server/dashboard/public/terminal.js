/**
 * One command on a slave in a terminal in the page: the browser's side of
 * `control run` / `control exec` with a PTY. Keystrokes go as bytes (so ^C,
 * ^D, ^Z and the arrows reach the PTY as a terminal sends them), the window
 * size follows the element, and output is acknowledged only once xterm has
 * taken it in, so a page that falls behind holds the command back instead
 * of buffering without end.
 */
import { FitAddon } from "/dashboard/vendor/addon-fit.mjs";
import { Terminal } from "/dashboard/vendor/xterm.mjs";
import { commandLine } from "./view.js";

/** Input that may be unacknowledged by the slave (shared/protocol/limits.ts). */
const WINDOW_BYTES = 256 * 1024;
const TERM = "xterm-256color";
const encoder = new TextEncoder();

/** A command id as the protocol wants it; getRandomValues also works on a page served over plain http. */
function commandId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

export class RemoteTerminal {
  id = commandId();
  /** "starting", "running" or "ended". */
  state = "starting";
  #master;
  #term;
  #fit;
  #dispose;
  #unacknowledgedInput = 0;
  #queuedInput = [];

  /**
   * target: {kind: "run", command, args} or {kind: "exec", program, args}.
   * onChange(): the state or the exit status changed.
   */
  constructor(master, element, slave, target, onChange) {
    this.#master = master;
    this.element = element;
    this.slave = slave;
    this.target = target;
    this.onChange = onChange;
    this.exitText = "";
    [this.#term, this.#fit, this.#dispose] = mountXterm(element, {});
    this.#term.onData((text) => this.#input(encoder.encode(text)));
    this.#term.onBinary((text) => this.#input(Uint8Array.from(text, (char) => char.charCodeAt(0))));
    this.#term.onResize(({ cols, rows }) => {
      if (this.state === "running") this.#master.event("command_resize", { command_id: this.id, cols, rows });
    });
  }

  /** The command line as a shell would take it. */
  get label() {
    const { kind, command, program, args } = this.target;
    return commandLine([kind === "run" ? command : program, ...args]);
  }

  async start() {
    const terminal = { cols: this.#term.cols, rows: this.#term.rows, term: TERM };
    const common = { slave: this.slave, command_id: this.id, args: this.target.args, terminal };
    const { kind, command, program } = this.target;
    try {
      const request = kind === "run" ? { ...common, command } : { ...common, program };
      const { pid } = await this.#master.request(kind, request);
      this.pid = pid;
      if (this.state === "starting") this.#setState("running");
    } catch (error) {
      this.#end(`not started: ${error.message}`);
    }
  }

  focus() {
    this.#fit.fit();
    this.#term.focus();
  }

  /** Output from the slave: acknowledged once xterm has parsed it, as the CLI acknowledges once written. */
  output(bytes) {
    this.#term.write(bytes, () => {
      if (bytes.length === 0) return;
      this.#master.event("command_ack", { command_id: this.id, bytes: bytes.length });
      // The count of bytes written so far, for a reader (or a test) to check that nothing was lost.
      this.element.dataset.outputBytes = Number(this.element.dataset.outputBytes ?? 0) + bytes.length;
    });
  }

  inputAcknowledged(bytes) {
    this.#unacknowledgedInput -= bytes;
    while (this.#queuedInput.length > 0 && this.#unacknowledgedInput < WINDOW_BYTES)
      this.#sendInput(this.#queuedInput.shift());
  }

  /** All output came before this; show the status once xterm has written it. */
  exit({ code, signal, error }) {
    const text = error !== undefined ? `lost: ${error}` : `exit ${code ?? "?"}${signal === null ? "" : ` (${signal})`}`;
    this.#term.write(new Uint8Array(0), () => this.#end(text, code));
  }

  /** The master forgot the session (it restarted, or we were away too long): the command's end is unknown. */
  lost(reason) {
    if (this.state !== "ended") this.#end(`lost: ${reason}`);
  }

  signal(signal) {
    if (this.state === "running") this.#master.event("command_signal", { command_id: this.id, signal });
  }

  dispose() {
    this.signal("SIGHUP");
    this.#dispose();
  }

  #input(bytes) {
    if (this.state !== "running") return;
    if (this.#unacknowledgedInput >= WINDOW_BYTES) this.#queuedInput.push(bytes);
    else this.#sendInput(bytes);
  }

  #sendInput(bytes) {
    this.#unacknowledgedInput += bytes.length;
    this.#master.input(this.id, bytes);
  }

  #end(text, code = null) {
    this.exitText = text;
    this.exitCode = code;
    this.#setState("ended");
  }

  #setState(state) {
    this.state = state;
    this.onChange();
  }
}

/**
 * An ended command's kept output, from the history, in a terminal that takes
 * no input; it has the tab's side of RemoteTerminal.
 */
export class RecordedTerminal {
  state = "ended";
  #term;
  #fit;
  #dispose;

  constructor(element, entry, output) {
    this.id = `history-${entry.command_id}`;
    this.element = element;
    this.slave = entry.slave;
    this.label = entry.command;
    this.exitCode = entry.exit_code;
    this.exitText = entry.exit_code === null ? `lost: ${entry.error ?? "no exit code"}` : `exit ${entry.exit_code}`;
    // Output kept from pipes has bare line feeds; a PTY's \r\n is unchanged by this.
    [this.#term, this.#fit, this.#dispose] = mountXterm(element, { disableStdin: true, convertEol: true });
    this.#term.write(output);
  }

  focus() {
    this.#fit.fit();
    this.#term.focus();
  }

  signal() {}

  lost() {}

  dispose() {
    this.#dispose();
  }
}

/**
 * An xterm in `element`, fitted to it now and whenever it changes size (while
 * shown), in the page's colours when the system's scheme changes too.
 */
function mountXterm(element, options) {
  const term = new Terminal({ scrollback: 5000, fontSize: 13, theme: themeFor(element), ...options });
  const scheme = matchMedia("(prefers-color-scheme: dark)");
  const followScheme = () => {
    term.options.theme = themeFor(element);
  };
  scheme.addEventListener("change", followScheme);
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(element);
  fit.fit();
  new ResizeObserver(() => {
    // A hidden tab has no size; it is fitted when shown.
    if (element.offsetParent !== null) fit.fit();
  }).observe(element);
  const dispose = () => {
    scheme.removeEventListener("change", followScheme);
    term.dispose();
  };
  return [term, fit, dispose];
}

/** xterm draws its own colours: take the page's, so it follows the system's light or dark. */
function themeFor(element) {
  const style = getComputedStyle(element);
  const background = style.getPropertyValue("--terminal-background").trim();
  const foreground = style.getPropertyValue("--terminal-foreground").trim();
  return { background, foreground, cursor: foreground, selectionBackground: "#5b8def80" };
}
