import { spawn } from "node:child_process";
import { Command, InvalidArgumentError } from "commander";
import { nodeStateEvent, slaveEvent } from "../../shared/protocol/messages.js";
import { versionLine } from "../../shared/protocol/version.js";
import { renderChange, renderTree } from "../../shared/runtime/status-chart.js";
import { signInLink } from "../../shared/runtime/url.js";
import { OlympusClient, resolveMaster } from "../client/client.js";
import { NotStartedError, type Target } from "../client/remote-command.js";
import { age, table } from "./format.js";
import { chooseSlaves, runAttached, runFannedOut, type SlaveChoice } from "./run-command.js";
import { runTestSuite, type TestFlags } from "./test-command.js";
import { waitUntilSettled } from "./wait.js";

interface ConnectionFlags {
  master?: string;
  token?: string;
  ca?: string;
}

/** Runs `action` with a connected client and always closes it. */
async function withClient<T>(flags: ConnectionFlags, action: (client: OlympusClient) => Promise<T>): Promise<T> {
  const client = await OlympusClient.connect(resolveMaster(flags), { log: warn });
  try {
    return await action(client);
  } finally {
    client.close();
  }
}

export function controlProgram(): Command {
  const program = new Command("control")
    .description("Steer an Olympus master: list slaves, ping, and more")
    .version(versionLine(), "-V, --version", "print the package and protocol versions")
    .option(
      "--master <urls>",
      "master URL, or several comma-separated, tried in order (env OLYMPUS_MASTER, else .olympus/master.json)",
    )
    .option("--token <token>", "access token (env OLYMPUS_TOKEN, else .olympus/master.json)")
    .option(
      "--ca <file>",
      "trust this CA certificate (PEM) for a wss:// master (env OLYMPUS_CA, else .olympus/master.json)",
    )
    .enablePositionalOptions()
    .showHelpAfterError();

  program
    .command("slaves")
    .description("list the connected slaves")
    .option("--json", "print JSON")
    .action(async (options: { json?: boolean }) => {
      const slaves = await withClient(program.opts(), (client) => client.listSlaves());
      if (options.json) return console.log(JSON.stringify(slaves, null, 2));
      if (slaves.length === 0) return console.log("no slaves connected");
      const rows = slaves.map((s) => [s.name, String(s.id), s.address, s.version, age(s.connected_at)]);
      const header = ["NAME", "ID", "ADDRESS", "VERSION", "CONNECTED"];
      // Federated masters (--nats) say which master each slave is on.
      if (slaves.some((s) => s.master !== undefined))
        return console.log(
          table(
            [...header, "MASTER"],
            rows.map((row, i) => [...row, slaves[i]?.master ?? ""]),
          ),
        );
      console.log(table(header, rows));
    });

  program
    .command("ping")
    .description("round trip to the master, or through it to a slave")
    .argument("[slave]", "slave name or id")
    .option("--json", "print JSON")
    .action(async (slave: string | undefined, options: { json?: boolean }) => {
      const milliseconds = await withClient(program.opts(), (client) => client.ping(slave));
      const target = slave ?? "master";
      if (options.json) return console.log(JSON.stringify({ target, ms: Number(milliseconds.toFixed(3)) }));
      console.log(`${target}: ${milliseconds.toFixed(2)} ms`);
    });

  program
    .command("status")
    .description("show process trees")
    .argument("[slave]", "slave name or id (default: all)")
    .option("--json", "print JSON")
    .option("--errors", "print the crash report under each crashed node")
    .option("--wait", "wait until every phase is ready (exit 0) or one has crashed (exit 1)")
    .option("--timeout <seconds>", "with --wait: give up after this long (exit 1)", seconds, 60)
    .action(
      async (
        slave: string | undefined,
        options: { json?: boolean; errors?: boolean; wait?: boolean; timeout: number },
      ) => {
        const { trees, crashed } = await withClient(program.opts(), async (client) =>
          options.wait
            ? waitUntilSettled(client, slave, options.timeout * 1000)
            : { trees: await client.status(slave), crashed: [] },
        );
        if (options.json) console.log(JSON.stringify(trees, null, 2));
        else {
          const chartOptions = { color: colorWanted(), errors: options.errors ?? false };
          console.log(trees.map((tree) => renderTree(tree, chartOptions)).join("\n\n") || "no slaves connected");
        }
        if (crashed.length > 0) throw new Error(`crashed: ${crashed.join(", ")} (control status --errors shows why)`);
      },
    );

  program
    .command("watch")
    .description("print a line for every state change, until interrupted")
    .option("--json", "print one JSON object per line: {at, event, slave, ...}")
    .action(async (options: { json?: boolean }) => {
      const color = colorWanted();
      const json = (event: string, data: object) =>
        console.log(JSON.stringify({ at: new Date().toISOString(), event, ...data }));
      const client = await OlympusClient.connect(resolveMaster(program.opts()), {
        log: warn,
        setup: (link) => {
          link.onEvent(nodeStateEvent, ({ slave, node }) =>
            options.json ? json("node_state", { slave, node }) : console.log(renderChange(slave ?? "?", node, color)),
          );
          link.onEvent(slaveEvent, ({ slave, connected }) =>
            options.json
              ? json("slave", { slave: slave.name, connected, info: slave })
              : console.log(
                  `${new Date().toISOString().slice(11, 23)} ${slave.name} ${connected ? "connected" : "disconnected"}`,
                ),
          );
        },
      });
      await client.watch();
      throw new Error(await client.ended);
    });

  program
    .command("history")
    .description("the commands that ended, oldest first (the master keeps the last 1,000)")
    .argument("[slave]", "slave name or id (default: all)")
    .option("--json", "print JSON")
    .option("--output <command-id>", "print the last 64 KiB of that command's output instead")
    .action(async (slave: string | undefined, options: { json?: boolean; output?: string }) => {
      if (options.output !== undefined) {
        const output = await withClient(program.opts(), (client) => client.historyOutput(options.output as string));
        return void process.stdout.write(output);
      }
      const entries = await withClient(program.opts(), (client) => client.history(slave));
      if (options.json) return console.log(JSON.stringify(entries, null, 2));
      if (entries.length === 0) return console.log("no commands have ended yet");
      const rows = entries.map((entry) => [
        entry.started.replace("T", " ").slice(0, 19),
        entry.slave,
        entry.who,
        `${entry.duration.toFixed(1)}s`,
        entry.exit_code === null ? "lost" : String(entry.exit_code),
        entry.command_id,
        entry.command,
      ]);
      console.log(table(["STARTED", "SLAVE", "WHO", "TOOK", "EXIT", "ID", "COMMAND"], rows));
    });

  program
    .command("dashboard")
    .description("print the dashboard's sign-in link (it carries the token), or open it")
    .option("--open", "open it in the browser ($BROWSER, else xdg-open)")
    .action(async (options: { open?: boolean }) => {
      const { urls, token } = resolveMaster(program.opts());
      const link = signInLink(urls[0] as string, token);
      console.log(link);
      if (options.open) await openInBrowser(link);
    });

  program
    .command("restart")
    .description("restart a node and its subtree, or everything")
    .argument("[slave]", "slave name or id (default: every slave)")
    .argument("[node]", "phase name (default: the root)")
    .action(async (slave: string | undefined, node: string | undefined) => {
      const restarted = await withClient(program.opts(), (client) => client.restart(slave, node));
      console.log(`restarted ${restarted.join(", ") || "nothing"}`);
    });

  const addCommandOptions = (command: Command) =>
    command
      .option("--slave <names>", "slave name or id; several, comma-separated, run in parallel")
      .option("--all", "every connected slave, in parallel")
      .option("-t, --tty", "use a terminal even when stdin or stdout is not one")
      .option("-T, --no-tty", "use pipes even when stdin and stdout are terminals")
      .passThroughOptions();

  addCommandOptions(program.command("run"))
    .description("run a plan command (or alias) from a slave's preloaded worker")
    .argument("<command>", "plan command or alias")
    .argument("[args...]", "its arguments")
    .action(async (command: string, args: string[], options: RunFlags) => {
      await runTarget(program.opts(), options, { kind: "run", command, args });
    });

  addCommandOptions(program.command("exec"))
    .description("run any program on a slave")
    .option("--cwd <dir>", "working directory on the slave (default: the agent's plan directory)")
    .argument("<program>", "program to run")
    .argument("[args...]", "its arguments")
    .action(async (program_: string, args: string[], options: RunFlags & { cwd?: string }) => {
      await runTarget(program.opts(), options, { kind: "exec", program: program_, args, cwd: options.cwd });
    });

  program
    .command("test")
    .description("spread a test suite over every slave's preloaded workers, one file per command")
    .option("--slave <names>", "these slaves only, comma-separated (default: every connected slave)")
    .option("--all", "every connected slave (the default)")
    .option("-j, --jobs <n>", "files at once per slave (default: the slave's CPU count)", positiveInteger)
    .option("--command <name>", "the plan command each file runs under", "test")
    .option("--junit <file>", "write JUnit XML here (one testcase per file)")
    .option("--json", "print the whole result as JSON (progress goes to stderr)")
    .option("--rerun-failed", "run the last run's failures first")
    .argument("[files...]", "files or globs, relative to the plan's directory (default: the plan's test files)")
    .action(async (files: string[], options: TestFlags) => {
      const code = await withClient(program.opts(), (client) => runTestSuite(client, files, options));
      process.exit(code);
    });

  return program;
}

interface RunFlags extends SlaveChoice {
  tty?: boolean;
}

/** Runs on one slave attached to our terminal, or on several with prefixed output; exits with the command's code. */
async function runTarget(flags: ConnectionFlags, options: RunFlags, target: Target): Promise<never> {
  const client = await OlympusClient.connect(resolveMaster(flags), { log: warn });
  let code: number;
  try {
    const slaves = await chooseSlaves(client, options);
    const fanOut = slaves.length > 1 || options.all === true;
    const terminal = options.tty ?? (process.stdin.isTTY === true && process.stdout.isTTY === true);
    code = fanOut
      ? await runFannedOut(client, slaves, target)
      : await runAttached(client, slaves[0] as string, target, terminal);
  } finally {
    client.close();
  }
  process.exit(code);
}

/** Waits for the opener, which hands the link to a browser and returns. */
function openInBrowser(link: string): Promise<void> {
  const opener = process.env.BROWSER ?? "xdg-open";
  return new Promise((resolve, reject) => {
    const child = spawn(opener, [link], { stdio: "ignore" });
    child.once("error", (error) => reject(new Error(`cannot open the dashboard with ${opener}: ${error.message}`)));
    child.once("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`cannot open the dashboard: ${opener} exited with ${code}`)),
    );
  });
}

/** A positive number of seconds, for `--timeout`. */
function seconds(value: string): number {
  const parsed = Number(value);
  if (!(parsed > 0)) throw new InvalidArgumentError("not a positive number of seconds");
  return parsed;
}

/** A whole number of at least 1, for `-j`. */
function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError("not a whole number of at least 1");
  return parsed;
}

/** Colour when stdout is a terminal, unless NO_COLOR is set. */
function colorWanted(): boolean {
  return process.stdout.isTTY === true && process.env.NO_COLOR === undefined;
}

/** The CLI's one way out for errors: one line on stderr, exit 1. */
export async function runControl(argv: string[]): Promise<void> {
  try {
    await controlProgram().parseAsync(argv);
  } catch (error) {
    process.stderr.write(`control: ${(error as Error).message}\n`);
    process.exitCode = error instanceof NotStartedError ? error.exitCode : 1;
  }
}

/** What the client library says while it works (a lost connection being resumed), on stderr. */
function warn(line: string): void {
  process.stderr.write(`control: ${line}\n`);
}
