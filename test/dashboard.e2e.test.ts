import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe } from "node:test";
import type { Browser, Page } from "playwright-core";
import { controlIn, startOlympus, writePythonApp } from "./helpers/app.js";
import { launchChromium, newPage, screenshotPath, skip, test } from "./helpers/browser.js";
import { controlBin, olympusBin, run, startNode, stopAll } from "./helpers/processes.js";

describe("dashboard in headless Chromium", () => {
  let dir: string;
  let olympus: Awaited<ReturnType<typeof startOlympus>>;
  let browser: Browser;
  let page: Page;
  let pageLoads = 0;
  const node = (name: string, state: string, on = page) => on.locator(`.slave .node.${state}[data-node="${name}"]`);
  const link = (token: string) => `${olympus.httpUrl}#token=${encodeURIComponent(token)}`;

  before(async () => {
    if (skip !== false) return;
    browser = await launchChromium();
    dir = writePythonApp();
    olympus = await startOlympus(dir, ["--session-timeout", "1000"]);
    page = await newPage(browser);
    page.on("load", () => pageLoads++);
  });
  after(async () => {
    await browser?.close();
    await stopAll();
  });

  test("asks for the token again when the master refuses it", async () => {
    await page.goto(olympus.httpUrl);
    await page.fill("#token", "wrong");
    await page.click("#login button[type=submit]");
    await page.locator("#login-error", { hasText: "The master refused the token (bad token)." }).waitFor();
    assert.equal(await page.evaluate(() => localStorage.getItem("olympus-token")), null);
  });

  test("olympus start and control dashboard print the sign-in link", async () => {
    const printed = (await olympus.process.waitFor(/dashboard: (\S+)/))[1];
    assert.equal(printed, link(olympus.token));
    const result = await controlIn(dir, ["dashboard"]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), link(olympus.token));
    const opened = await run(controlBin, ["dashboard", "--open"], {
      cwd: dir,
      env: { ...process.env, BROWSER: "true" },
    });
    assert.equal(opened.code, 0, opened.stderr);
    const refused = await run(controlBin, ["dashboard", "--open"], {
      cwd: dir,
      env: { ...process.env, BROWSER: "false" },
    });
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr, "control: cannot open the dashboard: false exited with 1\n");
  });

  test("signs in by the link, takes the token out of the address bar, and shows the slave's tree", async () => {
    await page.goto(link(olympus.token));
    await node("boot", "ready").waitFor();
    await node("work", "ready").waitFor();
    assert.equal(page.url(), olympus.httpUrl, "the fragment is gone");
    assert.equal(await page.locator("#login").isHidden(), true);
    assert.equal(await page.locator("#identity").textContent(), "local-admin · admin");
    const meta = await page.locator(".slave .meta").textContent();
    // The slave of `olympus start` runs in the master's own process.
    assert.match(meta ?? "", /^in-process · version \d+\.\d+\.\d+ · up \d+s$/);
    pageLoads = 1;
  });

  test("turns work red when lib.py breaks, shows the error on click, and green after the fix, without a reload", async () => {
    writeFileSync(join(dir, "lib.py"), "GREETING = (\n");
    await node("work", "crashed").click();
    await page.locator(".node-error", { hasText: "SyntaxError" }).waitFor();
    assert.equal(await node("boot", "ready").count(), 1, "boot did not load lib.py, so it stays ready");
    assert.equal(await page.locator('button[data-command="hello"]').count(), 0, "no Run button on a crashed phase");
    await page.screenshot({ path: screenshotPath("dashboard.png"), fullPage: true });

    writeFileSync(join(dir, "lib.py"), 'GREETING = "hello again"\n');
    await node("work", "ready").waitFor();
    await page.locator('li:has(> [data-node="work"]) > .reason', { hasText: "↻ lib.py changed" }).waitFor();
    assert.equal(await page.locator(".node-error").count(), 0);
    assert.equal(pageLoads, 1);
  });

  test("lists a running command with its slave, command line and age, and kills it from its row", async () => {
    const sleeper = startNode(controlBin, ["exec", "--", "sleep", "30"], { cwd: dir });
    const row = page.locator("#commands tr", { hasText: "sleep 30" });
    await row.waitFor();
    assert.match((await row.locator("td").nth(2).textContent()) ?? "", /^\d+s$/);
    await row.locator('button[data-signal="SIGKILL"]').click();
    await row.waitFor({ state: "detached" });
    assert.equal((await sleeper.exited).code, 137, "control exec ends as a killed command does");
  });

  test("restarts a phase: work gets a new pid and is ready again", async () => {
    const pidOf = async () => page.locator('.slave li:has(> [data-node="work"]) > .pid').textContent();
    const before = await pidOf();
    await page.click('.slave li:has(> [data-node="work"]) > button[data-restart="work"]');
    await page.waitForFunction((old) => {
      const item = document.querySelector('.slave li:has(> .node.ready[data-node="work"])');
      const pid = item?.querySelector(":scope > .pid")?.textContent;
      return pid !== undefined && pid !== old;
    }, before);
    assert.equal(await page.locator("#action-error").textContent(), "");
    const work = page.locator('.slave li:has(> [data-node="work"])');
    assert.equal(await work.locator("> .reason").textContent(), "↻ restart requested");
    assert.match((await work.locator("> .boot").textContent()) ?? "", /^\d+\.\d\d s$/);
    const [tree] = JSON.parse((await controlIn(dir, ["status", "--json"])).stdout) as {
      nodes: { name: string; boot_ms: number; restart_reason: string | null }[];
    }[];
    const nodes = new Map(tree?.nodes.map((node) => [node.name, node]));
    assert.equal(nodes.get("work")?.restart_reason, "restart requested");
    assert.ok((nodes.get("work")?.boot_ms ?? -1) >= 0);
    assert.equal(nodes.get("boot")?.restart_reason, null, "boot never restarted");
  });

  test("a viewer sees no action, and the master refuses a run frame sent by hand from its page", async () => {
    const created = await run(olympusBin, ["token", "create", "--role", "viewer", "--name", "dash-viewer"], {
      cwd: dir,
    });
    assert.equal(created.code, 0, created.stderr);
    const token = created.stdout.trim().split("\n").at(-1) as string;
    const viewer = await newPage(browser);
    await viewer.goto(link(token));
    await node("work", "ready", viewer).waitFor();
    assert.equal(await viewer.locator("#identity").textContent(), "dash-viewer · viewer");
    const sleeper = startNode(controlBin, ["exec", "--", "sleep", "30"], { cwd: dir });
    await viewer.locator("#commands tr", { hasText: "sleep 30" }).waitFor();
    for (const action of ["button[data-command]", "button[data-restart]", "button[data-signal]"])
      assert.equal(await viewer.locator(action).count(), 0, `a viewer sees no ${action}`);
    assert.equal(await viewer.locator("#launcher").isHidden(), true);
    await sleeper.kill("SIGKILL");

    const answer = await viewer.evaluate(
      ({ url, token }) =>
        new Promise<unknown>((resolve) => {
          const socket = new WebSocket(url);
          socket.onmessage = ({ data }) => {
            const frame = JSON.parse(data);
            const send = (seq: number, type: string, body: unknown) =>
              socket.send(JSON.stringify({ seq, type, data: body }));
            if (frame.type === "hello")
              send(1, "register_control", { agent: "by hand", version: frame.data.version, token });
            if (frame.type === "ready")
              send(2, "run_request", {
                slave: "x",
                command_id: "by-hand-1",
                command: "hello",
                args: [],
                terminal: null,
              });
            if (frame.type === "run_response") resolve(frame.data);
          };
        }),
      { url: olympus.url, token },
    );
    assert.deepEqual(answer, { seq: 2, error: "a viewer may not run commands (that takes an operator token)" });
    await viewer.context().close();
  });

  test("stays signed in in another tab, and signing out in one signs out both", async () => {
    const second = await page.context().newPage();
    await second.goto(olympus.httpUrl);
    await node("work", "ready", second).waitFor();
    assert.equal(await second.locator("#identity").textContent(), "local-admin · admin");
    await second.click("#sign-out");
    await second.locator("#login").waitFor();
    await page.locator("#login").waitFor();
    assert.equal(await page.evaluate(() => localStorage.getItem("olympus-token")), null);
    await second.close();
    await page.fill("#token", olympus.token);
    await page.click("#login button[type=submit]");
    await node("work", "ready").waitFor();
    pageLoads = 1;
  });

  test("shows a test suite's progress per slave and its queue", async () => {
    // `hello` ignores its argument: each of the two files passes.
    const suite = startNode(controlBin, ["test", "--command", "hello", "lib.py", "plan.py"], { cwd: dir });
    assert.deepEqual(await suite.exited, { code: 0, signal: null }, suite.output);
    const card = page.locator(".suite.over", { hasText: "control test (hello)" });
    await card.locator(".meta", { hasText: "over · 2/2 files · 0 failed · queue 0" }).waitFor();
    assert.match((await card.locator(".suite-slaves tr").textContent()) ?? "", /2 done0 running0 failed$/);
  });

  test("reconnects by itself when the master restarts, and loads the state again", async () => {
    await olympus.process.kill();
    await page.locator(".connection:not(.up)").waitFor();
    olympus = await startOlympus(dir, ["--port", String(olympus.port), "--token", olympus.token]);
    await page.locator(".connection.up").waitFor();
    await node("work", "ready").waitFor();
    assert.equal(pageLoads, 1);
  });
});
