import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { it } from "node:test";
import { projectRoot } from "./helpers/processes.js";

type Version = [number, number, number];

function parse(text: string): Version {
  const [major = 0, minor = 0, patch = 0] = text.replace(/^v/, "").split(".").map(Number);
  return [major, minor, patch];
}

function compare(a: Version, b: Version): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/** Whether `version` meets a range as package.json engines write them: `>=x`, `^x`, `x`, joined by `||`. */
function satisfies(version: Version, range: string): boolean {
  return range.split("||").some((alternative) =>
    alternative
      .trim()
      .replace(/(>=|\^)\s+/g, "$1")
      .split(/\s+/)
      .every((comparator) => {
        if (comparator === "*" || comparator === "") return true;
        const [, operator = "", bound = ""] = /^(>=|>|<=|<|\^|=)?(.*)$/.exec(comparator) ?? [];
        const wanted = parse(bound);
        const order = compare(version, wanted);
        if (operator === ">=") return order >= 0;
        if (operator === ">") return order > 0;
        if (operator === "<=") return order <= 0;
        if (operator === "<") return order < 0;
        if (operator === "^") return order >= 0 && version[0] === wanted[0];
        return order === 0;
      }),
  );
}

it("every installed package runs on the oldest Node the engines field admits, so npm install warns no EBADENGINE", () => {
  const manifest = JSON.parse(readFileSync(`${projectRoot}package.json`, "utf8")) as { engines: { node: string } };
  const oldest = parse((/\d+(\.\d+){0,2}/.exec(manifest.engines.node) ?? ["0"])[0]);
  const lock = JSON.parse(readFileSync(`${projectRoot}package-lock.json`, "utf8")) as {
    packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
  };
  const refusing = Object.entries(lock.packages)
    .filter(([, entry]) => {
      const node = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
      return node !== undefined && !satisfies(oldest, node);
    })
    .map(([path, entry]) => `${path}@${entry.version} (node ${(entry.engines as { node: string }).node})`);
  assert.deepEqual(refusing, [], `these need a newer Node than ${oldest.join(".")}`);
});
