/**
 * bench/browser-terminal: the dashboard's terminal in headless Chromium next
 * to `control exec -t`, in the same run, on the same master.
 *
 * Throughput: `sh -c "stty raw -echo; cat FILE"` with FILE 50 MB of text
 * lines (raw mode, so the byte counts must match exactly), started from the
 * page's Exec field and counted in the page as xterm takes the bytes in
 * (the panel's data-output-bytes, which the page raises in xterm's write
 * callback, where it acknowledges them); MB/s from the first output byte to
 * the last. Baseline: the same command by `control exec -t`, its stdout a
 * pipe to this process, counted the same way. Runs alternate.
 *
 * First byte: a click on `hello`'s Run button to its first output byte in
 * the page, next to `control run hello` from spawn to its first byte on
 * stdout (which includes Node's start).
 */
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Page } from "playwright-core";
import { controlBin } from "../test/helpers/processes.js";
import { loadNote, main, onCleanup, pythonApp, startOlympus, tempDir } from "./harness.js";
import { median, quantile, report } from "./report.js";
import { type Transfer, transfer } from "./streams.js";

const MEGABYTES = Number(process.env.BENCH_BROWSER_MB ?? 50);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const FIRST_BYTE_SAMPLES = Number(process.env.BENCH_FIRST_BYTE_SAMPLES ?? 20);
const CHROMIUM = "/usr/bin/chromium";
const MB = 1024 * 1024;

type PageTransfer = Pick<Transfer, "bytes" | "streamMs" | "firstMs">;

/** `control exec -t` (or `run`) with its stdout a pipe to us: bytes, first to last, and the time to the first. */
const controlExec = (app: string, args: string[]) => transfer(process.execPath, [controlBin, ...args], { cwd: app });

/**
 * Clicks `selector` in the page and times, in the page's clock, the new
 * terminal's output: its first byte after the click, and its last once the
 * tab says the command exited 0.
 */
async function inPage(page: Page, selector: string): Promise<PageTransfer> {
  const timing = page.evaluate(
    (clickOn) =>
      new Promise<{ bytes: number; firstMs: number; streamMs: number }>((resolve, reject) => {
        const panels = document.getElementById("terminal-panels") as HTMLElement;
        const tabs = document.getElementById("terminal-tabs") as HTMLElement;
        const known = new Set(panels.children);
        const began = performance.now();
        let panel: HTMLElement | undefined;
        let first = 0;
        let last = 0;
        // Narrow observers: xterm's renderer changes the rows' DOM all the time, and that is not ours to watch.
        const observers: MutationObserver[] = [];
        const check = () => {
          panel ??= [...panels.children].find((child) => !known.has(child)) as HTMLElement | undefined;
          if (panel === undefined) return;
          if (observers.length === 2) {
            const watchBytes = new MutationObserver(check);
            watchBytes.observe(panel, { attributes: true, attributeFilter: ["data-output-bytes"] });
            observers.push(watchBytes);
          }
          const bytes = Number(panel.dataset.outputBytes ?? 0);
          if (bytes > 0 && first === 0) first = performance.now();
          if (bytes > 0) last = performance.now();
          const status = tabs.querySelector(`.tab[data-terminal="${panel.dataset.terminal}"] .tab-status`);
          if (!status?.classList.contains("ended")) return;
          for (const observer of observers) observer.disconnect();
          if (status.textContent !== "exit 0") reject(new Error(`the command ended with ${status.textContent}`));
          resolve({ bytes, firstMs: first - began, streamMs: last - first });
        };
        const watchPanels = new MutationObserver(check);
        watchPanels.observe(panels, { childList: true });
        const watchTabs = new MutationObserver(check);
        watchTabs.observe(tabs, { childList: true, subtree: true });
        observers.push(watchPanels, watchTabs);
        (document.querySelector(clickOn) as HTMLElement).click();
      }),
    selector,
  );
  return timing;
}

/** 50 MB of 76-character lines of base64, as a log might look. */
function writeTextFile(path: string): void {
  const fd = openSync(path, "w");
  for (let written = 0; written < MEGABYTES * MB; ) {
    const lines =
      randomBytes(57 * 1024)
        .toString("base64")
        .match(/.{1,76}/g) ?? [];
    const chunk = `${lines.join("\n")}\n`.slice(0, MEGABYTES * MB - written);
    writeSync(fd, chunk);
    written += chunk.length;
  }
  closeSync(fd);
}

await main(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium`);
  const notes = [loadNote("at start")];
  const app = pythonApp(
    "browser",
    { boot: { hello: [] } },
    { "plan.py": 'def boot():\n    pass\n\ndef hello():\n    print("hello")\n' },
  );
  await startOlympus(app);
  const { url, token } = JSON.parse(readFileSync(join(app, ".olympus", "master.json"), "utf8")) as {
    url: string;
    token: string;
  };
  const data = join(tempDir("browser-data"), "lines.txt");
  writeTextFile(data);
  const command = `stty raw -echo; cat '${data}'`;

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
  onCleanup(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.setDefaultTimeout(120_000);
  await page.goto(`${url.replace(/^ws/, "http").replace(/api\/socket$/, "")}#token=${encodeURIComponent(token)}`);
  await page.locator('button[data-command="hello"]').waitFor();
  await page.fill("#exec-line", `sh -c "${command}"`);

  // Warm the page cache and both paths once, then alternate.
  await controlExec(app, ["exec", "-t", "--", "sh", "-c", command]);
  await inPage(page, "#exec-form button[type=submit]");
  const browserRuns: PageTransfer[] = [];
  const cliRuns: PageTransfer[] = [];
  for (let run = 0; run < RUNS; run++) {
    browserRuns.push(await inPage(page, "#exec-form button[type=submit]"));
    cliRuns.push(await controlExec(app, ["exec", "-t", "--", "sh", "-c", command]));
  }

  const pageFirst: number[] = [];
  const cliFirst: number[] = [];
  for (let sample = 0; sample < FIRST_BYTE_SAMPLES; sample++) {
    pageFirst.push((await inPage(page, 'button[data-command="hello"]')).firstMs);
    cliFirst.push((await controlExec(app, ["run", "hello"])).firstMs);
    // Closed tabs keep the page small, as a user would close them.
    await page.evaluate(() => {
      for (const close of document.querySelectorAll<HTMLElement>(".tab-close")) close.click();
    });
  }

  const expected = MEGABYTES * MB;
  const rate = (run: PageTransfer) => run.bytes / MB / (run.streamMs / 1000);
  const browserRate = median(browserRuns.map(rate));
  const cliRate = median(cliRuns.map(rate));
  const complete = (transfers: PageTransfer[]) =>
    transfers.every((transfer) => transfer.bytes === expected)
      ? "all"
      : transfers.map((transfer) => transfer.bytes - expected).join("/");
  const rows = [
    ["output MB/s (first → last byte), median", browserRate, cliRate, browserRate / cliRate],
    ["output: runs with every byte received", complete(browserRuns), complete(cliRuns), ""],
    ["first byte p50 ms", median(pageFirst), median(cliFirst), median(pageFirst) / median(cliFirst)],
    [
      "first byte p90 ms",
      quantile(pageFirst, 0.9),
      quantile(cliFirst, 0.9),
      quantile(pageFirst, 0.9) / quantile(cliFirst, 0.9),
    ],
  ];
  notes.push(
    `Output: ${MEGABYTES} MB of text lines, ${RUNS} runs each (alternating); per run MB/s page ${browserRuns.map((t) => rate(t).toFixed(0)).join(", ")}, control ${cliRuns.map((t) => rate(t).toFixed(0)).join(", ")}. First byte: ${FIRST_BYTE_SAMPLES} samples each, alternating; the page's from the click, control's from spawn (Node's start included).`,
    `Target: the page's throughput ≥ 0.5 of control exec's (${(browserRate / cliRate).toFixed(2)}: ${browserRate / cliRate >= 0.5 ? "met" : "missed"}).`,
    loadNote("at end"),
  );
  report(
    "browser-terminal",
    ["measure", "dashboard terminal (Chromium)", "control exec -t / run", "ratio"],
    rows,
    notes,
  );
});
