import assert from "node:assert/strict";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";
import { startOlympus, writePythonApp } from "./helpers/app.js";
import { controlBin, projectRoot, startNode, stopAll } from "./helpers/processes.js";

/** Debian's chromium: CI installs it through .ci/run; playwright never downloads a browser here. */
const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const SCREENSHOT = join(projectRoot, "test-output", "dashboard.png");

const missing = existsSync(CHROMIUM)
  ? null
  : `${CHROMIUM} is missing: install Debian's chromium (.ci/run does) to run the dashboard test`;
/** Each test skips on its own, so the summary counts them; on CI a missing browser is a failure instead. */
const skip = missing !== null && !process.env.CI ? missing : false;
const test = (name: string, body: () => Promise<void>) => it(name, { skip }, body);

describe("dashboard in headless Chromium", () => {
  let dir: string;
  let olympus: Awaited<ReturnType<typeof startOlympus>>;
  let browser: Browser;
  let page: Page;
  let pageLoads = 0;
  const node = (name: string, state: string) => page.locator(`.slave .node.${state}[data-node="${name}"]`);

  before(async () => {
    if (skip !== false) return;
    if (missing !== null) throw new Error(missing);
    dir = writePythonApp();
    olympus = await startOlympus(dir, ["--session-timeout", "1000"]);
    // Each launch gets a fresh temporary profile, removed on close.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1000, height: 640 } });
    page.setDefaultTimeout(10_000);
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
    assert.equal(await page.evaluate(() => sessionStorage.getItem("olympus-token")), null);
  });

  test("then shows the slave with its tree in Zeus's colours", async () => {
    await page.fill("#token", olympus.token);
    await page.click("#login button[type=submit]");
    await node("boot", "ready").waitFor();
    await node("work", "ready").waitFor();
    assert.equal(await page.locator("#login").isHidden(), true);
    const meta = await page.locator(".slave .meta").textContent();
    assert.match(meta ?? "", /^127\.0\.0\.1 · version \d+\.\d+\.\d+ · up \d+s$/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem("olympus-token")), olympus.token);
  });

  test("turns work red when lib.py breaks, shows the error on click, and green after the fix, without a reload", async () => {
    writeFileSync(join(dir, "lib.py"), "GREETING = (\n");
    await node("work", "crashed").click();
    await page.locator(".node-error", { hasText: "SyntaxError" }).waitFor();
    assert.equal(await node("boot", "ready").count(), 1, "boot did not load lib.py, so it stays ready");
    mkdirSync(join(projectRoot, "test-output"), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    writeFileSync(join(dir, "lib.py"), 'GREETING = "hello again"\n');
    await node("work", "ready").waitFor();
    assert.equal(await page.locator(".node-error").count(), 0);
    assert.equal(pageLoads, 1);
  });

  test("lists a running command with its slave, command line and age, until it ends", async () => {
    const sleeper = startNode(controlBin, ["exec", "--", "sleep", "30"], { cwd: dir });
    const row = page.locator("#commands tr", { hasText: "sleep 30" });
    await row.waitFor();
    assert.match((await row.textContent()) ?? "", /^\S+sleep 30\d+s$/);
    await sleeper.kill("SIGKILL");
    await row.waitFor({ state: "detached" });
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
