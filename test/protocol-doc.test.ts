import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { it } from "node:test";
import { binaryHeader } from "../shared/protocol/binary-frame.js";
import { catalogue } from "../shared/protocol/messages.js";
import { projectRoot } from "./helpers/processes.js";

it("docs/protocol.md has a row for every message type in the catalogue, and no other", () => {
  const text = readFileSync(`${projectRoot}docs/protocol.md`, "utf8");
  const documented = new Set([...text.matchAll(/^\| `([a-z_]+)` \|/gm)].map((match) => match[1]));
  const catalogued = new Set(catalogue.map((definition) => definition.type));
  assert.deepEqual([...documented].sort(), [...catalogued].sort());
});

it("docs/protocol.md describes the binary frame header as the codec lays it out", () => {
  const text = readFileSync(`${projectRoot}docs/protocol.md`, "utf8");
  const documented = [...text.matchAll(/^\| (\d+) \| (\d+) \| ([a-z_]+) \| (.+) \|$/gm)].map((match) => ({
    field: match[3],
    offset: Number(match[1]),
    bytes: Number(match[2]),
    means: match[4],
  }));
  assert.deepEqual(documented, binaryHeader);
});
