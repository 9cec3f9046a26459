import { existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import * as z from "./zod.js";

/** `.olympus/master.json`: where a local master listens and how to get in. */
export const MASTER_FILE = join(".olympus", "master.json");

export const masterFileSchema = z.object({
  url: z.string(),
  token: z.string(),
  /** For a wss:// url: the CA certificate file that clients here trust. */
  ca: z.optional(z.string()),
  pid: z.optional(z.number().check(z.int())),
  /** What wrote it: `olympus start` or `olympus master`. */
  command: z.optional(z.string()),
});
export type MasterFile = z.infer<typeof masterFileSchema>;

function readMasterFile(path: string): MasterFile {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new Error(`${path} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = masterFileSchema.safeParse(json);
  if (!parsed.success) throw new Error(`${path} is not a valid master file: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/** Finds `.olympus/master.json` in `start` or the nearest directory above it. */
export function findMasterFile(start: string): { path: string; contents: MasterFile } | null {
  for (let directory = start; ; directory = dirname(directory)) {
    const path = join(directory, MASTER_FILE);
    if (existsSync(path)) {
      return { path, contents: readMasterFile(path) };
    }
    if (dirname(directory) === directory) return null;
  }
}

/** Whether a process with this pid runs on this host (one of another user's counts). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Throws when the master file in `directory` belongs to another process that still runs; a stale or unreadable one is nobody's. */
export function refuseIfClaimed(directory: string): void {
  let holder: MasterFile;
  try {
    holder = readMasterFile(join(directory, MASTER_FILE));
  } catch {
    return;
  }
  if (holder.pid === undefined || holder.pid === process.pid || !isRunning(holder.pid)) return;
  throw new Error(`${holder.command ?? "a master"} is already running here (pid ${holder.pid})`);
}

/**
 * Writes the master file readable by its owner only. It is created
 * atomically and exclusively (a hard link of a complete file), so of two
 * processes that write at once one is refused; a stale file is taken over.
 */
export function writeMasterFile(directory: string, contents: MasterFile): string {
  const path = join(directory, MASTER_FILE);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(contents, null, 2)}\n`, { mode: 0o600 });
  try {
    linkSync(temporary, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    refuseIfClaimed(directory);
    renameSync(temporary, path);
  } finally {
    rmSync(temporary, { force: true });
  }
  return path;
}

/** Removes the master file if it still names this process, so a newer master's claim survives. */
export function removeMasterFile(path: string): void {
  try {
    if (readMasterFile(path).pid === process.pid) unlinkSync(path);
  } catch {
    // Already gone or replaced by something unreadable: not ours to remove.
  }
}
