import { Command } from "commander";
import { age, table } from "./format.js";
import { OlympusClient, resolveMaster } from "./client.js";

interface ConnectionFlags {
  master?: string;
  token?: string;
}

/** Runs `action` with a connected client and always closes it. */
async function withClient<T>(flags: ConnectionFlags, action: (client: OlympusClient) => Promise<T>): Promise<T> {
  const client = await OlympusClient.connect(resolveMaster(flags));
  try {
    return await action(client);
  } finally {
    client.close();
  }
}

export function controlProgram(): Command {
  const program = new Command("control")
    .description("Steer an Olympus master: list slaves, ping, and more")
    .option("--master <url>", "master URL (env OLYMPUS_MASTER, else .olympus/master.json)")
    .option("--token <token>", "access token (env OLYMPUS_TOKEN, else .olympus/master.json)")
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
      console.log(table(["NAME", "ID", "ADDRESS", "VERSION", "CONNECTED"], rows));
    });

  program
    .command("ping")
    .description("round trip to the master, or through it to a slave")
    .argument("[slave]", "slave name or id")
    .action(async (slave: string | undefined) => {
      const milliseconds = await withClient(program.opts(), (client) => client.ping(slave));
      console.log(`${slave === undefined ? "master" : slave}: ${milliseconds.toFixed(2)} ms`);
    });

  return program;
}

/** The CLI's one way out for errors: one line on stderr, exit 1. */
export async function runControl(argv: string[]): Promise<void> {
  try {
    await controlProgram().parseAsync(argv);
  } catch (error) {
    process.stderr.write(`control: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}
