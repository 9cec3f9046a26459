import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { controlIn, type NodeStatus, startLocal, waitForRestart, waitForStates, writeApp } from "./helpers/app.js";
import { controlBin, eventually, olympusBin, run, startNode, stopAll } from "./helpers/processes.js";

after(stopAll);

/** Debian's python3-django installs for Debian's Python, not for a python3 earlier on PATH. */
const python = "/usr/bin/python3";
const hasDjango = spawnSync(python, ["-c", "import django"], { stdio: "ignore" }).status === 0;
// CI installs python3-django, so there a missing Django is a failure, not a skip.
const skip = hasDjango || process.env.CI ? false : `${python} cannot import django (apt-get install python3-django)`;

const allReady = { boot: "ready", settings: "ready", setup: "ready", test_environment: "ready" };

/** polls/models.py, with `extra` lines at the end of the model. */
const model = (extra = "") =>
  [
    "from django.db import models",
    "",
    "",
    "class Question(models.Model):",
    "    text = models.CharField(max_length=200)",
    "",
    "    def shout(self):",
    "        return self.text.upper()",
    extra,
    "",
  ].join("\n");

const passingTests = [
  "from django.test import TestCase",
  "",
  "from .models import Question",
  "",
  "",
  "class QuestionTests(TestCase):",
  "    def test_shout(self):",
  '        question = Question.objects.create(text="why")',
  '        self.assertEqual(Question.objects.get(pk=question.pk).shout(), "WHY")',
  "",
].join("\n");

function python3(app: string, args: string[]): void {
  const result = spawnSync(python, args, { cwd: app, encoding: "utf8" });
  assert.equal(result.status, 0, `${python} ${args.join(" ")}: ${result.stderr}`);
}

/** A project as `startproject` and `startapp` make it, with a model, its migration and a test. */
function generateProject(): string {
  const app = mkdtempSync(join(tmpdir(), "olympus-django-"));
  python3(app, ["-m", "django", "startproject", "mysite", "."]);
  python3(app, ["manage.py", "startapp", "polls"]);
  const settings = readFileSync(join(app, "mysite", "settings.py"), "utf8");
  writeApp(app, "mysite/settings.py", settings.replace("INSTALLED_APPS = [", "INSTALLED_APPS = [\n    'polls',"));
  writeApp(app, "polls/models.py", model());
  writeApp(app, "polls/tests.py", passingTests);
  python3(app, ["manage.py", "makemigrations", "polls"]);
  return app;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function assertSamePids(now: Map<string, NodeStatus>, before: Map<string, NodeStatus>, names: string[]): void {
  for (const name of names) assert.equal(now.get(name)?.pid, before.get(name)?.pid, `${name} kept its pid`);
}

function assertNewPids(now: Map<string, NodeStatus>, before: Map<string, NodeStatus>, names: string[]): void {
  for (const name of names) assert.notEqual(now.get(name)?.pid, before.get(name)?.pid, `${name} restarted`);
}

describe("olympus init --django", () => {
  it("refuses a directory without manage.py, in one line", async () => {
    const empty = mkdtempSync(join(tmpdir(), "olympus-django-"));
    const result = await run(olympusBin, ["init", "--django"], { cwd: empty });
    assert.equal(result.code, 1);
    assert.equal(result.stderr, `olympus: no manage.py in ${empty}: run this in your Django project's directory\n`);
  });
});

describe("a generated Django project under olympus start", () => {
  let app = "";

  before(() => {
    if (skip === false) app = generateProject();
  });

  it("olympus init --django writes a zeus.json naming the settings and the interpreter", { skip }, async () => {
    const result = await run(olympusBin, ["init", "--django", "--python", python], { cwd: app });
    assert.equal(result.code, 0, result.stderr);
    const zeus = JSON.parse(readFileSync(join(app, "zeus.json"), "utf8")) as { command: string };
    assert.equal(zeus.command, `DJANGO_SETTINGS_MODULE=mysite.settings ${python} -m olympus_zeus olympus_zeus.django`);
    const again = await run(olympusBin, ["init", "--django"], { cwd: app });
    assert.equal(again.code, 1, "an existing zeus.json is kept");
  });

  it("boots every phase", { skip }, async () => {
    await startLocal(app);
    await waitForStates(app, allReady, 30_000);
    const chart = await controlIn(app, ["status"]);
    assert.match(chart.stdout, /test_environment \[ready\]/);
    assert.match(chart.stdout, /test \(t\)/);
  });

  it("runs the project's tests preloaded, with their exit code", { skip }, async () => {
    const passing = await controlIn(app, ["run", "test"]);
    assert.equal(passing.code, 0, passing.stdout + passing.stderr);
    assert.match(passing.stderr, /Ran 1 test in [\d.]+s\n\nOK\n/);

    writeApp(
      app,
      "polls/test_failing.py",
      [
        "from django.test import SimpleTestCase",
        "",
        "",
        "class Failing(SimpleTestCase):",
        "    def test_fails(self):",
        "        self.assertEqual(1, 2)",
        "",
      ].join("\n"),
    );
    const failing = await controlIn(app, ["run", "test", "polls"]);
    assert.equal(failing.code, 1, failing.stdout + failing.stderr);
    assert.match(failing.stderr, /Ran 2 tests[\s\S]*FAILED \(failures=1\)/);
    rmSync(join(app, "polls", "test_failing.py"));
  });

  it("runs any management command: manage migrate", { skip }, async () => {
    const migrate = await controlIn(app, ["run", "manage", "migrate"]);
    assert.equal(migrate.code, 0, migrate.stdout + migrate.stderr);
    assert.match(migrate.stdout, /Applying polls\.0001_initial\.\.\. OK/);
    const shown = await controlIn(app, ["run", "manage", "showmigrations", "polls"]);
    assert.match(shown.stdout, /\[X\] 0001_initial/);
    const unknown = await controlIn(app, ["run", "manage", "no_such_command"]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /Unknown command: 'no_such_command'/);
  });

  it("restarts the phase that loaded an edited model, and not the phases above it", { skip }, async () => {
    const before = await waitForStates(app, allReady);
    writeApp(
      app,
      "polls/models.py",
      model(["", "    def whisper(self):", "        return self.text.lower()"].join("\n")),
    );
    const now = await waitForRestart(app, before, ["setup"], Object.keys(allReady));
    assertSamePids(now, before, ["boot", "settings"]);
    assertNewPids(now, before, ["test_environment"]);

    writeApp(
      app,
      "polls/tests.py",
      `${passingTests}\n    def test_whisper(self):\n        self.assertEqual(Question(text="WHY").whisper(), "why")\n`,
    );
    const result = await controlIn(app, ["run", "t"]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stderr, /Ran 2 tests/);
  });

  it("restarts the settings subtree when the settings change", { skip }, async () => {
    const before = await waitForStates(app, allReady);
    const settings = readFileSync(join(app, "mysite", "settings.py"), "utf8");
    writeApp(app, "mysite/settings.py", `${settings}\nGREETING = "edited"\n`);
    const now = await waitForRestart(app, before, ["settings"], Object.keys(allReady));
    assertSamePids(now, before, ["boot"]);
    assertNewPids(now, before, ["setup", "test_environment"]);

    const result = await controlIn(app, [
      "run",
      "shell",
      "-c",
      "from django.conf import settings; print(settings.GREETING)",
    ]);
    assert.equal(result.stdout, "edited\n", result.stderr);
  });

  it("serves with runserver, which stops with a line when its code changes", { skip }, async () => {
    const port = await freePort();
    const server = startNode(controlBin, ["run", "runserver", `127.0.0.1:${port}`], { cwd: app });
    // Its stdout is a pipe, so Django's banner may sit in a buffer: ask the server itself.
    const status = () =>
      fetch(`http://127.0.0.1:${port}/admin/login/`).then(
        (response) => response.status,
        () => 0,
      );
    await eventually(async () => (await status()) === 200, 30_000, "runserver to answer");

    // Django's reloader takes its first look at the files some time after the
    // server answers; a change before that goes unseen, so edit until it stops.
    let edits = 0;
    const stopped = () => Promise.race([server.exited.then(() => true), delay(1500, false)]);
    await eventually(
      () => {
        writeApp(app, "polls/models.py", model(`\n    def murmur(self):\n        return ${++edits}`));
        return stopped();
      },
      30_000,
      "runserver to stop after a change",
    );
    assert.equal((await server.exited).code, 3, server.output);
    assert.match(
      server.output,
      /polls\/models\.py changed, reloading\.\n[\s\S]*olympus: the server stopped because its code changed; run it again to serve the new code\n/,
    );
  });

  it("restarts a phase when a file it declared appears: .env for the settings, requirements.txt for all", {
    skip,
  }, async () => {
    const before = await waitForStates(app, allReady);
    writeApp(app, ".env", "DEBUG=1\n");
    const afterEnv = await waitForRestart(app, before, ["settings"], Object.keys(allReady));
    assertSamePids(afterEnv, before, ["boot"]);

    writeApp(app, "requirements.txt", "Django>=3.2\n");
    const afterRequirements = await waitForRestart(app, afterEnv, ["boot"], Object.keys(allReady));
    assertNewPids(afterRequirements, afterEnv, ["settings", "setup", "test_environment"]);
  });
});
