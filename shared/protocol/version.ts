import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The protocol version every side announces. Peers must share the major number. */
export const PROTOCOL_VERSION = "2.0.0";

/** Returns why `theirs` cannot talk to `ours`, or null when the major versions agree. */
export function versionMismatch(ours: string, theirs: string): string | null {
  const major = (version: string) => /^(\d+)\./.exec(version)?.[1];
  const theirMajor = major(theirs);
  if (theirMajor === undefined) return `version "${theirs}" is not of the form MAJOR.MINOR.PATCH`;
  if (theirMajor !== major(ours))
    return `protocol version ${theirs} is incompatible with ${ours} (major versions differ)`;
  return null;
}

/** What `--version` prints on both CLIs: the package version from the package.json above this build (dist/… or the control bundle), and the protocol's. */
export function versionLine(): string {
  for (let directory = dirname(fileURLToPath(import.meta.url)); ; directory = dirname(directory)) {
    try {
      const { version } = JSON.parse(readFileSync(join(directory, "package.json"), "utf8")) as { version: string };
      return `olympus ${version} (protocol ${PROTOCOL_VERSION})`;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT" || dirname(directory) === directory) throw error;
    }
  }
}
