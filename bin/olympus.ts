#!/usr/bin/env node
import { hostname } from "node:os";
import { Command, InvalidArgumentError, Option } from "commander";
import {
  DEFAULT_HANDSHAKES_PER_MINUTE,
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  DEFAULT_SESSION_TIMEOUT_MS,
} from "../server/limits.js";
import { type MasterCommandOptions, runMasterCommand } from "../server/main.js";
import { DEFAULT_HANDSHAKE_TIMEOUT_MS } from "../shared/protocol/limits.js";
import { versionLine } from "../shared/protocol/version.js";
import { readCa } from "../shared/runtime/tls.js";
import { DEFAULT_BOOT_TIMEOUT_MS } from "../slave/agent.js";
import { runSlaveCommand, type SlaveCommandOptions } from "../slave/main.js";
import { DEFAULT_FILE_CHANGE_DELAY_MS } from "../slave/zeus/file-monitor.js";
import { initCommand } from "./init.js";
import { runStart, type StartOptions } from "./start.js";
import { tokenCommand } from "./token.js";

/** What commander parses: the run options, with durations named as their flags are. */
type SlaveFlags = Omit<
  SlaveCommandOptions,
  "master" | "name" | "token" | "ca" | "fileChangeDelayMs" | "bootTimeoutMs"
> & {
  master?: string;
  name?: string;
  token?: string;
  ca?: string;
  fileChangeDelay: number;
  bootTimeout: number;
};

type StartFlags = Omit<StartOptions, "fileChangeDelayMs" | "bootTimeoutMs" | "sessionTimeoutMs"> & {
  fileChangeDelay: number;
  bootTimeout: number;
  sessionTimeout: number;
};

function integer(value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 0) throw new InvalidArgumentError("not a non-negative integer");
  return parsed;
}

type MasterFlags = Omit<
  MasterCommandOptions,
  "nats" | "handshakeTimeoutMs" | "handshakesPerMinute" | "heartbeatIntervalMs" | "sessionTimeoutMs"
> & {
  nats?: string;
  handshakeTimeout: number;
  handshakeLimit: number;
  heartbeatInterval: number;
  sessionTimeout: number;
};

/** `a,b` → [a, b]; nothing → undefined. */
function commaList(value: string | undefined): string[] | undefined {
  const items = value?.split(",").filter((item) => item !== "");
  return items === undefined || items.length === 0 ? undefined : items;
}

/** The flags of an agent's supervisor, shared by `olympus slave` and `olympus start`. */
const fileChangeDelayOption = () =>
  new Option("--file-change-delay <ms>", "wait this long after a file change for more")
    .argParser(integer)
    .default(DEFAULT_FILE_CHANGE_DELAY_MS);
const bootTimeoutOption = () =>
  new Option("--boot-timeout <ms>", "a phase that reports no result in this time is crashed")
    .argParser(integer)
    .default(DEFAULT_BOOT_TIMEOUT_MS);

const program = new Command("olympus")
  .description("Olympus: a Zeus-style preloader for many hosts")
  .version(versionLine(), "-V, --version", "print the package and protocol versions")
  .showHelpAfterError();

program
  .command("master")
  .description("run a master on its own")
  .option("--host <host>", "address to bind", "127.0.0.1")
  .option("--port <port>", "port to bind", integer, 7400)
  .option(
    "--token <token>",
    "a shared token, accepted as admin (env OLYMPUS_TOKEN; else an admin token is written to .olympus/master.json)",
  )
  .option("--tls-cert <file>", "serve https:// and wss:// with this certificate (PEM)")
  .option("--tls-key <file>", "the certificate's private key (PEM)")
  .option("--handshake-timeout <ms>", "time a new connection has to register", integer, DEFAULT_HANDSHAKE_TIMEOUT_MS)
  .option(
    "--handshake-limit <count>",
    "new connections one address may open per minute",
    integer,
    DEFAULT_HANDSHAKES_PER_MINUTE,
  )
  .option(
    "--heartbeat-interval <ms>",
    "time between heartbeats; a peer silent for twice this is dropped",
    integer,
    DEFAULT_HEARTBEAT_INTERVAL_MS,
  )
  .option(
    "--session-timeout <ms>",
    "how long a dropped peer may take to resume its session",
    integer,
    DEFAULT_SESSION_TIMEOUT_MS,
  )
  .option("--nats <urls>", "join the masters federated over these NATS servers, comma-separated (env OLYMPUS_NATS)")
  .option("--verbose", "log detail too: each control's registration and goodbye")
  .action((options: MasterFlags) =>
    runMasterCommand({
      ...options,
      nats: commaList(options.nats ?? process.env.OLYMPUS_NATS),
      handshakeTimeoutMs: options.handshakeTimeout,
      handshakesPerMinute: options.handshakeLimit,
      heartbeatIntervalMs: options.heartbeatInterval,
      sessionTimeoutMs: options.sessionTimeout,
      token: options.token ?? process.env.OLYMPUS_TOKEN,
    }),
  );

program
  .command("slave")
  .description("run a slave agent that connects to a master")
  .option(
    "--master <urls>",
    "master URL: ws://, wss://, http:// or https://, with or without /api/socket; several comma-separated are tried in order (env OLYMPUS_MASTER)",
  )
  .option("--name <name>", "this slave's name (default: the host name)")
  .option("--id <id>", "this slave's numeric id (default: derived from the name)", integer)
  .option("--replace", "take the name from another agent connected under it, instead of being refused")
  .option("--token <token>", "a slave token, or the master's shared token (env OLYMPUS_TOKEN)")
  .option("--ca <file>", "trust this CA certificate (PEM) for a wss:// master")
  .option("--config <path>", "the plan (default: ./zeus.json when present)")
  .addOption(fileChangeDelayOption())
  .addOption(bootTimeoutOption())
  .action((options: SlaveFlags) => {
    const master = options.master ?? process.env.OLYMPUS_MASTER;
    if (master === undefined)
      return program.error("olympus slave: no master given: pass --master URL or set OLYMPUS_MASTER");
    const token = options.token ?? process.env.OLYMPUS_TOKEN;
    if (token === undefined) return program.error("olympus slave: no token given: pass --token or set OLYMPUS_TOKEN");
    runSlaveCommand({
      ...options,
      master,
      name: options.name ?? hostname(),
      token,
      ca: readCa(options.ca),
      fileChangeDelayMs: options.fileChangeDelay,
      bootTimeoutMs: options.bootTimeout,
    });
  });

program
  .command("start")
  .description("run a master on loopback and an agent for this directory, with a live status chart")
  .option("--config <path>", "the plan", "zeus.json")
  .option("--host <host>", "address the master binds", "127.0.0.1")
  .option("--port <port>", "port the master binds (0: any free port)", integer, 0)
  .option("--token <token>", "a shared token, accepted as admin (env OLYMPUS_TOKEN; else an admin token is generated)")
  .option("--tls-cert <file>", "serve https:// and wss:// with this certificate (PEM)")
  .option("--tls-key <file>", "the certificate's private key (PEM)")
  .option(
    "--ca <file>",
    "the CA certificate the agent and control trust (default: the certificate itself, if self-signed)",
  )
  .addOption(fileChangeDelayOption())
  .addOption(bootTimeoutOption())
  .option(
    "--session-timeout <ms>",
    "how long a dropped control may take to resume its session",
    integer,
    DEFAULT_SESSION_TIMEOUT_MS,
  )
  .option("--verbose", "log detail too: each control's registration and goodbye")
  .action((options: StartFlags) =>
    runStart({
      ...options,
      sessionTimeoutMs: options.sessionTimeout,
      token: options.token ?? process.env.OLYMPUS_TOKEN,
      fileChangeDelayMs: options.fileChangeDelay,
      bootTimeoutMs: options.bootTimeout,
    }),
  );

program.addCommand(tokenCommand());
program.addCommand(initCommand());

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.stderr.write(`olympus: ${(error as Error).message}\n`);
  process.exit(1);
}
