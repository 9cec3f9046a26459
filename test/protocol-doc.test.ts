import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { it } from "node:test";
import { catalogue } from "../shared/protocol/messages.js";
import { projectRoot } from "./helpers/processes.js";

it("docs/protocol.md has a row for every message type in the catalogue, and no other", () => {
  const text = readFileSync(`${projectRoot}docs/protocol.md`, "utf8");
  const documented = new Set([...text.matchAll(/^\| `([a-z_]+)` \|/gm)].map((match) => match[1]));
  const catalogued = new Set(catalogue.map((definition) => definition.type));
  assert.deepEqual([...documented].sort(), [...catalogued].sort());
});
