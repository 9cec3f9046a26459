import { spawn } from "node:child_process";
import { mkdtempSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { controlBin, olympusBin, run, type Started, startNode } from "./processes.js";
import { CuttableProxy } from "./proxy.js";

export const TEST_TOKEN = "test-token-0123456789";

/** A real `olympus master` on a free port. */
export async function startMaster(
  extraArgs: string[] = [],
  port = 0,
  /** Where it keeps its state (.olympus/): by default the test's own working directory. */
  cwd?: string,
): Promise<{ process: Started; url: string; port: number }> {
  const master = startNode(olympusBin, ["master", "--port", String(port), "--token", TEST_TOKEN, ...extraArgs], {
    cwd,
  });
  const [, url, boundPort] = (await master.waitFor(
    /listening on (ws:\/\/127\.0\.0\.1:(\d+)\/api\/socket)/,
  )) as string[];
  return { process: master, url: url as string, port: Number(boundPort) };
}

/** A real `olympus slave`, resolved once the master has accepted it. */
export async function startSlave(url: string, name: string, extraArgs: string[] = []): Promise<Started> {
  const slave = startNode(olympusBin, ["slave", "--master", url, "--name", name, "--token", TEST_TOKEN, ...extraArgs]);
  await slave.waitFor(/connected to/);
  return slave;
}

/** Runs `control` against a master with the test token, from an empty directory. */
export function control(url: string, args: string[]) {
  const cwd = mkdtempSync(join(tmpdir(), "olympus-control-"));
  return run(controlBin, ["--master", url, "--token", TEST_TOKEN, ...args], { cwd });
}

export async function slaveNames(url: string): Promise<string[]> {
  const result = await control(url, ["slaves", "--json"]);
  if (result.code !== 0) throw new Error(`control slaves failed: ${result.stderr}`);
  return (JSON.parse(result.stdout) as { name: string }[]).map((slave) => slave.name).sort();
}

/** Runs `control` against a master with stdin from a file (or nothing), collecting stdout as bytes. */
export function controlBytes(
  url: string,
  args: string[],
  inputPath: string | null,
): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  const cwd = mkdtempSync(join(tmpdir(), "olympus-control-"));
  return controlBytesIn(cwd, ["--master", url, "--token", TEST_TOKEN, ...args], inputPath);
}

/** Runs `control` in `cwd` with stdin from a file (or none), collecting stdout as bytes. */
export function controlBytesIn(
  cwd: string,
  args: string[],
  inputPath: string | null,
): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  const child = spawn(process.execPath, [controlBin, ...args], {
    cwd,
    stdio: [inputPath === null ? "ignore" : openSync(inputPath, "r"), "pipe", "pipe"],
  });
  const chunks: Buffer[] = [];
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => chunks.push(chunk));
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) =>
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(chunks), stderr })),
  );
}

/** A slave named `name`, run in `app`, that reaches the master on `port` through a proxy of its own (the test closes it). */
export async function slaveBehindProxy(
  port: number,
  name: string,
  app: string,
): Promise<{ agent: Started; proxy: CuttableProxy }> {
  const proxy = await CuttableProxy.start(port);
  const agent = startNode(
    olympusBin,
    ["slave", "--master", `ws://127.0.0.1:${proxy.port}`, "--name", name, "--token", TEST_TOKEN],
    { cwd: app },
  );
  await agent.waitFor(/connected to/);
  return { agent, proxy };
}

/** A long `control` run that a test interrupts, once it has printed `ready`. */
export async function startControl(url: string, args: string[], ready: RegExp): Promise<Started> {
  const running = startNode(controlBin, ["--master", url, "--token", TEST_TOKEN, ...args]);
  await running.waitFor(ready);
  return running;
}

/** What a control prints when the slave running its command goes and is not back within `timeoutSeconds`. */
export function slaveLostLines(slave: string, timeoutSeconds: number): string[] {
  return [
    `control: ${slave}: slave ${slave} lost its connection; waiting up to ${timeoutSeconds} s for it to resume`,
    `control: ${slave}: slave ${slave} disconnected: no resume within ${timeoutSeconds} s`,
  ];
}
