import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The value at quantile q (0..1) of unsorted samples. */
export function quantile(samples: number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

export function median(samples: number[]): number {
  return quantile(samples, 0.5);
}

/** Prints a Markdown table (ready for bench/README.md) and saves the rows as bench/results/<name>.json. */
export function report(name: string, header: string[], rows: (string | number)[][], notes: string[] = []): void {
  const cell = (value: string | number) => (typeof value === "number" ? formatNumber(value) : value);
  const lines = [
    `| ${header.join(" | ")} |`,
    `|${header.map(() => "---").join("|")}|`,
    ...rows.map((row) => `| ${row.map(cell).join(" | ")} |`),
  ];
  console.log(`\n### ${name} (${new Date().toISOString().slice(0, 10)}, ${process.version})\n`);
  console.log(lines.join("\n"));
  for (const note of notes) console.log(`\n${note}`);
  const directory = fileURLToPath(new URL("../../bench/results/", import.meta.url));
  mkdirSync(directory, { recursive: true });
  const records = rows.map((row) => Object.fromEntries(header.map((title, index) => [title, row[index]])));
  writeFileSync(
    `${directory}${name}.json`,
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, rows: records, notes }, null, 2)}\n`,
  );
}

function formatNumber(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(2);
}
