import { existsSync } from "node:fs";
import { createLogger } from "../shared/runtime/log.js";
import { onShutdownSignal } from "../shared/runtime/shutdown.js";
import { socketUrls } from "../shared/runtime/url.js";
import { Agent, DEFAULT_BOOT_TIMEOUT_MS } from "./agent.js";
import { idForName } from "./master-connection.js";
import { ConfigError, loadPlan, type Plan } from "./zeus/config.js";

export interface SlaveCommandOptions {
  master: string;
  name: string;
  id?: number;
  /** Take the name from another agent connected under it. */
  replace?: boolean;
  token: string;
  /** Trusted besides the system's CAs, for a wss:// master. */
  ca?: Buffer;
  /** Explicitly given: it must exist. Otherwise ./zeus.json is used if present. */
  config?: string;
  fileChangeDelayMs: number;
  bootTimeoutMs?: number;
}

/** Loads zeus.json, printing its one-line error and exiting 1 when it is wrong. */
export function loadPlanOrExit(path: string): Plan {
  try {
    return loadPlan(path);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`olympus: ${error.message}\n`);
    process.exit(1);
  }
}

/** `olympus slave`: boot the plan and stay connected to the master until a signal. */
export function runSlaveCommand(options: SlaveCommandOptions): void {
  const log = createLogger(`slave ${options.name}`);
  const configPath = options.config ?? (existsSync("zeus.json") ? "zeus.json" : null);
  const plan = configPath === null ? null : loadPlanOrExit(configPath);
  if (plan === null) log("no zeus.json here: running without a process tree");
  const agent = new Agent({
    plan,
    fileChangeDelayMs: options.fileChangeDelayMs,
    bootTimeoutMs: options.bootTimeoutMs ?? DEFAULT_BOOT_TIMEOUT_MS,
    master: {
      urls: socketUrls(options.master),
      token: options.token,
      ca: options.ca,
      name: options.name,
      id: options.id ?? idForName(options.name),
      replace: options.replace,
    },
    log,
    onRefused: (reason) => {
      log(reason);
      void agent.stop(reason).finally(() => process.exit(1));
    },
  });
  agent.start();
  onShutdownSignal(async (signal) => log(`${signal}: stopped ${await agent.stop("agent shutting down")}`));
}
