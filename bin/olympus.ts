#!/usr/bin/env node
import { Command, InvalidArgumentError } from "commander";
import { runMasterCommand } from "../server/run-master.js";
import { runSlaveCommand } from "../slave/run-agent.js";

function integer(value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 0) throw new InvalidArgumentError("not a non-negative integer");
  return parsed;
}

const program = new Command("olympus").description("Olympus: a Zeus-style preloader for many hosts").showHelpAfterError();

program
  .command("master")
  .description("run a master on its own")
  .option("--host <host>", "address to bind", "127.0.0.1")
  .option("--port <port>", "port to bind", integer, 7400)
  .option("--token <token>", "shared token (env OLYMPUS_TOKEN; else one is generated into .olympus/master.json)")
  .option("--handshake-timeout <ms>", "time a new connection has to register", integer, 10_000)
  .action((options: { host: string; port: number; token?: string; handshakeTimeout: number }) =>
    runMasterCommand({ ...options, handshakeTimeoutMs: options.handshakeTimeout, token: options.token ?? process.env.OLYMPUS_TOKEN }),
  );

program
  .command("slave")
  .description("run a slave agent that connects to a master")
  .requiredOption("--master <url>", "master URL: ws://, wss://, http:// or https://, with or without /api/socket")
  .requiredOption("--name <name>", "this slave's name")
  .option("--id <id>", "this slave's numeric id (default: derived from the name)", integer)
  .option("--token <token>", "shared token (env OLYMPUS_TOKEN)")
  .action((options: { master: string; name: string; id?: number; token?: string }) => {
    const token = options.token ?? process.env.OLYMPUS_TOKEN;
    if (token === undefined) return program.error("olympus slave: no token given: pass --token or set OLYMPUS_TOKEN");
    runSlaveCommand({ ...options, token });
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  process.stderr.write(`olympus: ${(error as Error).message}\n`);
  process.exit(1);
}
