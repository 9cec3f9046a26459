// `npm run link-zeus [-- DIR] [-- --force]`: links dist/bin/zeus.cjs as `zeus`
// in DIR (default: npm's global bin, where `npm link` puts olympus and control).
// A real zeus stays: the link is refused when DIR or PATH already has a zeus
// that is not this one, unless --force.
import { execFileSync } from "node:child_process";
import { existsSync, realpathSync, rmSync, symlinkSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";

const args = process.argv.slice(2);
const force = args.includes("--force");
const target = resolve("dist/bin/zeus.cjs");
if (!existsSync(target)) {
  console.error(`link-zeus: ${target} is missing; run "npm run build" first`);
  process.exit(1);
}
const directory =
  args.find((arg) => arg !== "--force") ??
  join(execFileSync("npm", ["prefix", "-g"], { encoding: "utf8" }).trim(), "bin");
const link = join(directory, "zeus");

const onPath = (process.env.PATH ?? "").split(delimiter).map((entry) => join(entry, "zeus"));
const others = [link, ...onPath].filter((path) => existsSync(path) && realpathSync(path) !== realpathSync(target));
if (others.length > 0 && !force) {
  console.error(
    `link-zeus: a zeus that is not Olympus's is already at ${others[0]}; pass --force to link over or before it`,
  );
  process.exit(1);
}
rmSync(link, { force: true }); // also a dangling link left by an old checkout
symlinkSync(target, link);
console.log(`${link} -> ${target}`);
