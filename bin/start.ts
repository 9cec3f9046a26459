import { hostname } from "node:os";
import { resolve } from "node:path";
import { issueLocalAdminToken } from "../server/auth/auth.js";
import { useAtomicMarking } from "../server/gc-tuning.js";
import { startMaster } from "../server/master.js";
import { createLogger, type Logger } from "../shared/runtime/log.js";
import { refuseIfClaimed, removeMasterFile, writeMasterFile } from "../shared/runtime/master-file.js";
import { fitScreen } from "../shared/runtime/screen.js";
import { onShutdownSignal } from "../shared/runtime/shutdown.js";
import { renderChange, renderTree } from "../shared/runtime/status-chart.js";
import { readCa, readServerTls } from "../shared/runtime/tls.js";
import { signInLink } from "../shared/runtime/url.js";
import { Agent } from "../slave/agent.js";
import { loadPlanOrExit } from "../slave/main.js";
import { idForName } from "../slave/master-connection.js";

export interface StartOptions {
  config: string;
  host: string;
  port: number;
  token?: string;
  tlsCert?: string;
  tlsKey?: string;
  /** The CA the agent and `control` trust for wss:// (default: the certificate itself, which works when it is self-signed). */
  ca?: string;
  fileChangeDelayMs: number;
  bootTimeoutMs: number;
  sessionTimeoutMs: number;
  verbose?: boolean;
}

/** Log lines kept for the screen; how many show depends on its height. */
const LOG_LINES_KEPT = 12;

/**
 * `olympus start`: a master on loopback and an agent for this directory in
 * one process, with a live chart on a terminal and a plain log otherwise.
 */
export async function runStart(options: StartOptions): Promise<void> {
  // Before booting anything; writing the file checks again, for a start that raced us.
  refuseIfClaimed(process.cwd());
  const plan = loadPlanOrExit(options.config);
  const live = process.stdout.isTTY === true;
  const name = hostname();
  const recent: string[] = [];
  let agent: Agent | null = null;

  const redraw = throttle(() => {
    if (agent?.supervisor == null) return;
    const chart = renderTree(
      { slave: name, ...agent.supervisor.tree.snapshot() },
      { color: process.env.NO_COLOR === undefined, errors: "brief" },
    );
    const { columns, rows } = process.stdout;
    process.stdout.write(`\x1b[H\x1b[2J${fitScreen(chart.split("\n"), recent, columns || 80, rows || 24)}`);
  }, 50);
  const log: Logger = live
    ? createLogger("olympus", (text) => {
        recent.push(text.trimEnd());
        recent.splice(0, recent.length - LOG_LINES_KEPT);
        redraw();
      })
    : createLogger("olympus");

  const tls = readServerTls(options);
  const ca = tls === undefined ? undefined : resolve(options.ca ?? (options.tlsCert as string));
  useAtomicMarking();
  const master = await startMaster({
    host: options.host,
    port: options.port,
    token: options.token,
    tls,
    sessionTimeoutMs: options.sessionTimeoutMs,
    log,
    verbose: options.verbose,
  });
  const token = options.token ?? (await issueLocalAdminToken(master.auth.store));
  const masterFile = writeMasterFile(process.cwd(), {
    url: master.url,
    token,
    ca,
    pid: process.pid,
    command: "olympus start",
  });
  log(`master listening on ${master.url}; token in ${masterFile}`);
  log(`dashboard: ${signInLink(master.url, token)}`);

  agent = new Agent({
    plan,
    fileChangeDelayMs: options.fileChangeDelayMs,
    bootTimeoutMs: options.bootTimeoutMs,
    // In this process: no socket between the master and its own slave.
    master: {
      urls: [master.url],
      token,
      ca: readCa(ca),
      name,
      id: idForName(name),
      openSocket: () => master.connectInProcess(),
    },
    log,
    onRefused: (reason) => log(`agent refused by its own master: ${reason}`),
    onNodeChange: (node) => (live ? redraw() : console.log(renderChange(name, node.snapshot(), false))),
  });
  agent.start();
  if (live) process.stdout.on("resize", redraw);

  onShutdownSignal(async (signal) => {
    log(`${signal}: stopping`);
    removeMasterFile(masterFile);
    await agent?.stop("olympus start stopping");
    await master.stop("olympus start stopping");
  });
}

/** Calls `action` at most once per `milliseconds`, always after the last call. */
function throttle(action: () => void, milliseconds: number): () => void {
  let _timer: NodeJS.Timeout | null = null;
  return () => {
    _timer ??= setTimeout(() => {
      _timer = null;
      action();
    }, milliseconds);
  };
}
