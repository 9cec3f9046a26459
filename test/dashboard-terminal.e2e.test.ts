import assert from "node:assert/strict";
import { hostname } from "node:os";
import { after, before, describe } from "node:test";
import type { Browser, Page } from "playwright-core";
import { makeApp, startOlympus } from "./helpers/app.js";
import { launchChromium, newPage, screenshotPath, skip, terminalRows, terminalText, test } from "./helpers/browser.js";
import { eventually, stopAll } from "./helpers/processes.js";
import { CuttableProxy } from "./helpers/proxy.js";

/** boot → work → `hello` (prints its arguments) and `console` (answers lines until ^C). */
function writeConsoleApp(): string {
  return makeApp({
    "zeus.json": JSON.stringify({
      command: "python3 -m olympus_zeus plan",
      plan: { boot: { work: { hello: [], console: [] } } },
    }),
    "plan.py": [
      "import sys",
      "def boot(): pass",
      "def work(): pass",
      "def hello():",
      '    print("hello", sys.argv[1:])',
      "def console():",
      "    import readline  # line editing: the arrow keys move in the line",
      "    try:",
      "        while True:",
      '            print("you said:", input("> "))',
      "    except KeyboardInterrupt:",
      '        print("bye")',
      "        sys.exit(3)",
      "",
    ].join("\n"),
  });
}

describe("dashboard terminals in headless Chromium", () => {
  let olympus: Awaited<ReturnType<typeof startOlympus>>;
  let browser: Browser;
  let page: Page;
  let proxy: CuttableProxy | null = null;
  const selectedTab = () => page.locator(".tab.selected");
  const tabStatus = () => selectedTab().locator(".tab-status");
  const waitForText = (text: string, on = page) =>
    on.waitForFunction(
      (wanted) =>
        [...document.querySelectorAll(".terminal-panel:not([hidden]) .xterm-rows > div")]
          .map((row) => row.textContent?.replace(/\u00a0/g, " ") ?? "")
          .join("\n")
          .includes(wanted),
      text,
    );
  /** A page through the proxy, running a command that prints 1 to `count` slowly; resolves once it shows `seen`. */
  const countingThroughProxy = async (count: number, seen: string) => {
    proxy ??= await CuttableProxy.start(olympus.port);
    const viaProxy = await newPage(browser);
    await viaProxy.goto(`http://127.0.0.1:${proxy.port}/#token=${encodeURIComponent(olympus.token)}`);
    await viaProxy.locator(".connection.up").waitFor();
    await viaProxy.fill("#exec-line", `sh -c 'for i in $(seq 1 ${count}); do printf "%s " $i; sleep 0.05; done'`);
    await viaProxy.click("#exec-form button[type=submit]");
    await waitForText(seen, viaProxy);
    return { proxy, viaProxy };
  };
  /** The counting command's terminal shows every number once, in order. */
  const assertCounted = async (viaProxy: Page, count: number) => {
    // Rows joined as drawn: a line wrapped at the edge reads on.
    const text = (await terminalRows(viaProxy)).join("").replace(/\s+/g, " ");
    const expected = Array.from({ length: count }, (_, index) => index + 1).join(" ");
    assert.ok(text.includes(expected), `every number once, in order: ${text}`);
  };

  before(async () => {
    if (skip !== false) return;
    browser = await launchChromium();
    const dir = writeConsoleApp();
    olympus = await startOlympus(dir);
    page = await newPage(browser, 1280, 800);
    await page.goto(`${olympus.httpUrl}#token=${encodeURIComponent(olympus.token)}`);
    await page.locator('button[data-command="console"]').waitFor();
  });
  after(async () => {
    proxy?.close();
    await browser?.close();
    await stopAll();
  });

  test("runs hello with arguments from its button, and shows its output and exit 0", async () => {
    await page.fill("#run-args", "one 'two words'");
    await page.click('button[data-command="hello"]');
    await waitForText("hello ['one', 'two words']");
    await tabStatus().and(page.locator("[data-exit-code='0']")).waitFor();
    assert.equal(await tabStatus().textContent(), "exit 0");
    await page.fill("#run-args", "");
  });

  test("the console command answers a typed line, edited with the arrow keys, and ^C ends it", async () => {
    await page.click('button[data-command="console"]');
    await waitForText(">");
    await page.keyboard.type("pig");
    await page.keyboard.press("ArrowLeft");
    await page.keyboard.type("n");
    await page.keyboard.press("Enter");
    await waitForText("you said: ping");
    await page.keyboard.press("Control+C");
    await waitForText("bye");
    await tabStatus().and(page.locator("[data-exit-code='3']")).waitFor();
  });

  test("a resize of the panel reaches the remote stty size", async () => {
    await page.fill("#exec-line", "sh -c 'while read line; do echo size $(stty size); done'");
    await page.click("#exec-form button[type=submit]");
    await selectedTab().locator(".tab-status.running").waitFor();
    await page.locator(".terminal-panel:not([hidden]) .xterm-helper-textarea").focus();
    /** Asks for `stty size` and waits for an answer of as many rows as the page's terminal has now. */
    const remoteSize = async () => {
      const rows = (await terminalRows(page)).length;
      await page.keyboard.press("Enter");
      await waitForText(`size ${rows} `);
      const [, cols] = /size \d+ (\d+)\s*$/.exec(await terminalText(page)) ?? [];
      return { rows, cols: Number(cols) };
    };
    const before = await remoteSize();

    await page.locator(".terminal-panel:not([hidden])").evaluate((panel) => {
      (panel as HTMLElement).style.height = "9rem";
      (panel as HTMLElement).style.width = "30rem";
    });
    await page.waitForFunction(
      (rows) => document.querySelectorAll(".terminal-panel:not([hidden]) .xterm-rows > div").length < rows,
      before.rows,
    );
    const after = await remoteSize();
    assert.ok(after.rows < before.rows && after.cols < before.cols, `${JSON.stringify({ before, after })}`);
    await page.keyboard.press("Control+D");
    await tabStatus().and(page.locator("[data-exit-code='0']")).waitFor();
  });

  test("keeps each command in its own tab", async () => {
    assert.equal(await page.locator(".tab").count(), 3);
    await page.locator(".tab .tab-label").first().click();
    await waitForText("hello ['one', 'two words']");
  });

  test("shows each ended command in the history, filtered, and its output in a read-only terminal", async () => {
    await page.fill("#history-filter", "hello");
    const row = page.locator("#history tr");
    await eventually(async () => (await row.count()) === 1 && (await row.locator("td").count()) === 6);
    const [, slave, who, command, took, exit] = await row.locator("td").allTextContents();
    assert.deepEqual([slave, who, command, exit], [hostname(), "local-admin", "hello one 'two words'", "exit 0"]);
    assert.match(took ?? "", /^\d+\.\d s$/);
    await page.fill("#history-filter", "exit 3");
    await page.locator("#history tr", { hasText: "console" }).waitFor();
    await page.fill("#history-filter", "hello");
    await row.locator("button[data-history]").click();
    // The hello tab opened by the first test is selected and shows the same: wait for the recorded one.
    await page.locator('.tab.selected[data-terminal^="history-"]').waitFor();
    await selectedTab().locator(".tab-status", { hasText: "exit 0" }).waitFor();
    await waitForText("hello ['one', 'two words']");
    assert.equal(await page.locator(".tab").count(), 4);
    await page.fill("#history-filter", "");
  });

  test("draws the last hour: boots and commands on the timeline, commands per minute", async () => {
    await page.waitForFunction(() => Number(document.getElementById("activity")?.dataset.commands) >= 3);
    // Two phases booted, and at least the three commands above ran.
    const marks = Number(await page.locator("#timeline").getAttribute("data-marks"));
    assert.ok(marks >= 5, `${marks} marks on the timeline`);
    assert.equal(await page.locator(".chart .uplot").count(), 2);
  });

  test("leaves pictures of the tree, a terminal, the history and the charts, wide and narrow, light and dark", async () => {
    const parts = {
      tree: page.locator("#slaves"),
      terminal: page.locator("#terminals"),
      history: page.locator("section:has(#history)"),
      charts: page.locator("section:has(#timeline)"),
    };
    for (const scheme of ["light", "dark"] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const [width, height] of [
        [1280, 800],
        [390, 844],
      ] as const) {
        await page.setViewportSize({ width, height });
        await page.screenshot({ path: screenshotPath(`dashboard-${width}x${height}-${scheme}.png`) });
        for (const [name, part] of Object.entries(parts))
          await part.screenshot({ path: screenshotPath(`dashboard-${name}-${width}x${height}-${scheme}.png`) });
      }
    }
    await page.emulateMedia({ colorScheme: "light" });
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  test("5 MB of output arrive complete in the page", async () => {
    const size = 5_000_000;
    await page.fill("#exec-line", `sh -c "head -c ${size} /dev/zero | tr '\\\\000' x"`);
    await page.click("#exec-form button[type=submit]");
    await tabStatus().and(page.locator("[data-exit-code='0']")).waitFor({ timeout: 120_000 });
    const counted = await page.locator(".terminal-panel:not([hidden])").getAttribute("data-output-bytes");
    assert.equal(Number(counted), size);
  });

  test("a dropped connection resumes the terminal with nothing lost", async () => {
    const { proxy, viaProxy } = await countingThroughProxy(60, "5 ");
    assert.ok(proxy.cutAll() >= 1, "the page's socket was cut");
    await viaProxy.locator(".tab-status[data-exit-code='0']").waitFor();
    await assertCounted(viaProxy, 60);
    await viaProxy.context().close();
  });

  test("a network that falls silent is noticed by the heartbeat, and the terminal resumes with nothing lost", async () => {
    const { proxy, viaProxy } = await countingThroughProxy(40, "3 ");
    // What the connection said, every change of it: the resume may take only a moment.
    await viaProxy.evaluate(() => {
      const connection = document.getElementById("connection") as HTMLElement;
      const said: string[] = [];
      new MutationObserver(() => said.push(connection.textContent ?? "")).observe(connection, { childList: true });
      Object.assign(window, { said });
    });
    assert.ok(proxy.silence({ newConnections: "carry" }) >= 1, "the page's socket went silent");
    // Neither side hears a heartbeat for two intervals (10 s): the page gives up the socket and resumes on a new one.
    await viaProxy.locator(".tab-status[data-exit-code='0']").waitFor();
    const said = await viaProxy.evaluate(() => (window as unknown as { said: string[] }).said);
    assert.ok(
      said.some((text) => text.includes("resuming")),
      `the page said it was resuming: ${JSON.stringify(said)}`,
    );
    await assertCounted(viaProxy, 40);
    await viaProxy.context().close();
  });
});
