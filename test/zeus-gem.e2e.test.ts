/** The real Zeus gem, both generations, as the root command: boot, files, restarts, commands. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, describe, it } from "node:test";
import { OlympusClient, resolveMaster } from "../control/client/client.js";
import { controlIn, startLocal, waitForRestart, waitForStates } from "./helpers/app.js";
import { controlBin, eventually, isAlive, type Started, stopAll } from "./helpers/processes.js";
import { controlInTerminal } from "./helpers/terminal.js";
import { missingZeusGem, writeGemApp } from "./helpers/zeus-gem.js";

after(stopAll);

// The gem is found beside the project, not installed: where it is not, these tests skip and say why.
const missing = missingZeusGem();
const ready = { boot: "ready", default_environment: "ready", development_environment: "ready" };

for (const generation of ["modern", "classic"] as const) {
  describe(`the Zeus gem, ${generation} generation`, { skip: missing ?? false }, () => {
    const app = missing === null ? writeGemApp(generation) : "";
    let agent: Started;

    it("boots every phase; a failing phase shows the gem's report, and its fix reboots it", async () => {
      // A control that vanishes gets its commands hung up once its session times out.
      agent = await startLocal(app, ["--session-timeout", "2000"]);
      const status = await waitForStates(app, { ...ready, failing: "crashed" }, 30_000);
      assert.match(status.get("failing")?.error ?? "", /phase failed on purpose \(RuntimeError\)/);
      assert.match(status.get("failing")?.error ?? "", /lib\/failing\.rb/);
      writeFileSync(join(app, "lib/failing.rb"), "FIXED = true\n");
      await waitForStates(app, { ...ready, failing: "ready" });
    });

    it("restarts exactly the subtree that loaded a changed file", async () => {
      const before = await waitForStates(app, ready);
      writeFileSync(
        join(app, "lib/greeter.rb"),
        "module Greeter\n  def self.greet(names) = \"hello again #{names.join(' ')}\"\nend\n",
      );
      const now = await waitForRestart(app, before, ["default_environment", "development_environment"]);
      assert.equal(now.get("boot")?.pid, before.get("boot")?.pid);
      assert.equal(now.get("failing")?.pid, before.get("failing")?.pid);
      const echo = await controlIn(app, ["run", "e", "big", "world"]);
      assert.equal(echo.code, 0, echo.stderr);
      assert.equal(echo.stdout, "hello again big world\n");
    });

    it("runs commands with their arguments and exit codes", async () => {
      const spaced = await controlIn(app, ["run", "echo", "two words", "x:y"]);
      assert.equal(spaced.code, 0, spaced.stderr);
      assert.match(spaced.stdout, /hello .*two words x:y\n$/);
      assert.equal((await controlIn(app, ["run", "exit_with", "0"])).code, 0);
      assert.equal((await controlIn(app, ["run", "exit_with", "7"])).code, 7);
      const crash = await controlIn(app, ["run", "crash"]);
      assert.equal(crash.code, 1);
      // A classic command has one terminal for stdout and stderr.
      assert.match(generation === "classic" ? crash.stdout : crash.stderr, /boom \(ArgumentError\)/);
    });

    it("stops a command on ^C in a terminal", async () => {
      const terminal = controlInTerminal(["run", "spin"], { cwd: app });
      await terminal.waitFor(/spinning (\d+)/, 20_000);
      const pid = Number(/spinning (\d+)/.exec(terminal.output())?.[1]);
      terminal.write("\x03");
      // The gem reports 0 for a command ended by a signal ($?.exitstatus is nil), as under Zeus.
      await terminal.exited;
      await eventually(() => !isAlive(pid), 5000, `command ${pid} to end`);
      assert.match(terminal.output(), /Interrupt/);
    });

    it("ends the command and its runner when the control goes away", async () => {
      const control = spawn(process.execPath, [controlBin, "run", "spin"], {
        cwd: app,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      control.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
      await eventually(() => /spinning \d+/.test(output), 20_000, "the command to start");
      const pid = Number(/spinning (\d+)/.exec(output)?.[1]);
      const runner = parentOf(pid);
      control.kill("SIGKILL");
      await eventually(() => !isAlive(pid) && !isAlive(runner), 10_000, `command ${pid} and runner ${runner} to end`);
    });

    it("keeps a running command alive through a restart of its node", async () => {
      const before = await waitForStates(app, ready);
      const child = spawn(process.execPath, [controlBin, "run", "wait"], { cwd: app, stdio: ["pipe", "pipe", "pipe"] });
      let output = "";
      child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
      await eventually(() => /waiting \d+/.test(output), 20_000, "the command to start");
      writeFileSync(
        join(app, "lib/greeter.rb"),
        "module Greeter\n  def self.greet(names) = \"changed #{names.join(' ')}\"\nend\n",
      );
      await waitForRestart(app, before, ["default_environment", "development_environment"]);
      child.stdin.end("hi\n");
      const [code] = (await once(child, "exit")) as [number];
      assert.equal(code, 0);
      assert.match(output, /got "hi\\n": hello again/, "the command keeps the code it was forked with");
    });

    const count = generation === "modern" ? 200 : 50;
    it(`returns the right exit code for ${count} commands, and the agent lives on`, async () => {
      await waitForStates(app, ready);
      const agentPid = agent.child.pid as number;
      const client = await OlympusClient.connect(resolveMaster({}, app));
      const slave = (await client.listSlaves())[0]?.name as string;
      const discard = new Writable({ write: (_chunk, _encoding, done) => done() });
      const wrong: string[] = [];
      for (let index = 0; index < count; index += 4) {
        await Promise.all(
          [0, 1, 2, 3].map(async (offset) => {
            const code = (index + offset) % 9;
            const command = client.command(slave, { stdout: discard, stderr: discard });
            await command.start({ kind: "run", command: "exit_with", args: [String(code)] }, null);
            const outcome = await command.outcome;
            if (!("code" in outcome) || outcome.code !== code) wrong.push(`${code}: ${JSON.stringify(outcome)}`);
          }),
        );
      }
      client.close();
      assert.deepEqual(wrong, []);
      assert.equal(agent.child.exitCode, null, `the agent exited: ${agent.output}`);
      assert.ok(isAlive(agentPid));
      assert.equal(childrenNamed(agentPid, "olympus-client").length, 1, "one stand-in client serves every command");
      await eventually(() => orphanedRunners(app).length === 0, 5000, "no runner left behind");
    });
  });
}

function parentOf(pid: number): number {
  return processStats().find((stat) => stat.pid === pid)?.ppid ?? 0;
}

/** Children of `parent` whose process name is `name`, zombies included: they must be reaped too. */
function childrenNamed(parent: number, name: string): number[] {
  return processStats()
    .filter((stat) => stat.ppid === parent && stat.name === name)
    .map((stat) => stat.pid);
}

/** Gem runners of this app that lost their node. */
function orphanedRunners(app: string): number[] {
  return processStats()
    .filter(
      (stat) =>
        stat.ppid === 1 &&
        cwdOf(stat.pid) === app &&
        readFileSync(`/proc/${stat.pid}/cmdline`, "utf8").startsWith("zeus runner"),
    )
    .map((stat) => stat.pid);
}

function processStats(): { pid: number; name: string; ppid: number }[] {
  const stats = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const match = /^(\d+) \((.*)\) \S (\d+)/.exec(readFileSync(`/proc/${entry}/stat`, "utf8"));
      if (match !== null) stats.push({ pid: Number(match[1]), name: match[2] as string, ppid: Number(match[3]) });
    } catch {
      // Gone while we looked.
    }
  }
  return stats;
}

function cwdOf(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return null;
  }
}
