import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { it } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";
import { projectRoot } from "./processes.js";

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

const missing = existsSync(CHROMIUM)
  ? null
  : `${CHROMIUM} is missing: install Debian's chromium (.ci/run does) to run the dashboard tests`;
/** Each test skips on its own, so the summary counts them; on CI a missing browser is a failure instead. */
export const skip = missing !== null && !process.env.CI ? missing : false;
export const test = (name: string, body: () => Promise<void>) => it(name, { skip }, body);

/** Chromium, or the reason it cannot run (thrown on CI, where `skip` is false). */
export async function launchChromium(): Promise<Browser> {
  if (missing !== null) throw new Error(missing);
  // Each launch gets a fresh temporary profile, removed on close.
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/** A page in a context of its own (its own localStorage), waiting up to 30 s for a loaded machine. */
export async function newPage(browser: Browser, width = 1000, height = 640): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width, height } })).newPage();
  page.setDefaultTimeout(30_000);
  return page;
}

/** Where tests leave screenshots for people to look at. */
export function screenshotPath(name: string): string {
  mkdirSync(join(projectRoot, "test-output"), { recursive: true });
  return join(projectRoot, "test-output", name);
}

/** The visible text of the selected terminal, row by row as xterm's DOM renderer draws it, blanks kept. */
export function terminalRows(page: Page): Promise<string[]> {
  return page
    .locator(".terminal-panel:not([hidden]) .xterm-rows > div")
    .evaluateAll((rows) => rows.map((row) => (row.textContent ?? "").replace(/\u00a0/g, " ")));
}

/** The selected terminal's text, a line per row, without the blanks that pad each row. */
export async function terminalText(page: Page): Promise<string> {
  return (await terminalRows(page)).map((row) => row.trimEnd()).join("\n");
}
