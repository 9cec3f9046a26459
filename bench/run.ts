/**
 * `npm run bench`: every benchmark, one after another (each alone on the
 * machine), or only those named: `node dist/bench/run.js restart relay`.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const ALL = ["relay", "restart", "command-latency", "pty-throughput", "vs-ssh", "scale", "fleet-test"];
const chosen = process.argv.length > 2 ? process.argv.slice(2) : ALL;
let failed = 0;
for (const name of chosen) {
  if (!ALL.includes(name)) {
    console.error(`unknown benchmark ${name}; known: ${ALL.join(", ")}`);
    process.exit(1);
  }
  const result = spawnSync(process.execPath, [fileURLToPath(new URL(`${name}.js`, import.meta.url))], {
    stdio: "inherit",
  });
  if (result.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
