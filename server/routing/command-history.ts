import { appendFile, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { HistoryEntry } from "../../shared/protocol/messages.js";
import * as z from "../../shared/protocol/zod.js";
import type { Logger } from "../../shared/runtime/log.js";

/** Commands kept, and the output kept of each: its last bytes. */
export const HISTORY_ENTRIES = 1000;
export const HISTORY_OUTPUT_BYTES = 64 * 1024;
/** The command line is cut here, so the list of every entry stays well within one frame (1 MiB). */
const COMMAND_CHARS = 400;
/** The file grows by appends; past this many lines it is written anew with the last HISTORY_ENTRIES. */
const LINES_BEFORE_COMPACTING = HISTORY_ENTRIES + HISTORY_ENTRIES / 4;

/** One line of the file: an entry and its kept output. */
const lineSchema = z.object({
  command_id: z.string(),
  command: z.string(),
  slave: z.string(),
  who: z.string(),
  started: z.string(),
  duration: z.number(),
  exit_code: z.nullable(z.number()),
  error: z.optional(z.string()),
  output_bytes: z.number(),
  output: z.string(),
});
type Line = z.infer<typeof lineSchema>;

/** argv as a shell would take it back: arguments with spaces or quotes are single-quoted. */
export function shellLine(argv: string[]): string {
  return argv.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`)).join(" ");
}

/**
 * The last HISTORY_OUTPUT_BYTES of a command's output, as it passes: binary
 * frames' payloads as they are, JSON frames' base64 as it came, decoded only
 * when the command ends, so the master does not decode the whole stream for
 * its last bytes.
 */
export class OutputTail {
  private chunks: { data: Buffer | string; bytes: number }[] = [];
  private bytes = 0;

  /** A chunk of output: bytes, or base64 text. */
  add(data: Buffer | string): void {
    const bytes = typeof data === "string" ? Buffer.byteLength(data, "base64") : data.length;
    this.chunks.push({ data, bytes });
    this.bytes += bytes;
    while (this.bytes - (this.chunks[0]?.bytes ?? 0) >= HISTORY_OUTPUT_BYTES)
      this.bytes -= this.chunks.shift()?.bytes ?? 0;
  }

  /** The kept bytes: the oldest chunk may reach further back, so the front is cut. */
  take(): Buffer {
    const all = Buffer.concat(
      this.chunks.map(({ data }) => (typeof data === "string" ? Buffer.from(data, "base64") : data)),
    );
    return all.subarray(Math.max(0, all.length - HISTORY_OUTPUT_BYTES));
  }
}

/**
 * The commands that ended, newest last, in `history.jsonl` in the master's
 * state directory so they outlive a restart. Writes are queued, so the master
 * never waits for the disk, and a failed write is logged, not fatal.
 */
export class CommandHistory {
  private lines: Line[] = [];
  private linesInFile = 0;
  private writing: Promise<void> = Promise.resolve();
  private readonly path: string;

  constructor(
    private readonly directory: string,
    private readonly log: Logger,
  ) {
    this.path = join(directory, "history.jsonl");
  }

  /** Reads what an earlier master kept; a line that does not parse is skipped and counted. */
  async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      return this.log(`history: cannot read ${this.path}: ${(error as Error).message}`);
    }
    let skipped = 0;
    const lines = text.split("\n").filter((line) => line !== "");
    for (const line of lines) {
      const parsed = parseLine(line);
      if (parsed === null) skipped++;
      else this.lines.push(parsed);
    }
    this.lines = this.lines.slice(-HISTORY_ENTRIES);
    this.linesInFile = lines.length;
    if (skipped > 0) this.log(`history: skipped ${skipped} unreadable lines of ${this.path}`);
  }

  record(entry: Omit<HistoryEntry, "output_bytes">, output: Buffer): void {
    const command = entry.command.length > COMMAND_CHARS ? `${entry.command.slice(0, COMMAND_CHARS)}…` : entry.command;
    const line = { ...entry, command, output_bytes: output.length, output: output.toString("base64") };
    this.lines.push(line);
    if (this.lines.length > HISTORY_ENTRIES) this.lines.shift();
    this.linesInFile++;
    const compact = this.linesInFile > LINES_BEFORE_COMPACTING;
    if (compact) this.linesInFile = this.lines.length;
    const text = compact ? this.lines.map((kept) => JSON.stringify(kept)).join("\n") : JSON.stringify(line);
    this.writing = this.writing
      .then(() => mkdir(this.directory, { recursive: true, mode: 0o700 }))
      .then(() => (compact ? this.replaceFile(`${text}\n`) : appendFile(this.path, `${text}\n`, { mode: 0o600 })))
      .catch((error: Error) => this.log(`history: cannot write ${this.path}: ${error.message}`));
  }

  list(slave?: string): HistoryEntry[] {
    const lines = slave === undefined ? this.lines : this.lines.filter((line) => line.slave === slave);
    return lines.map(({ output: _output, ...entry }) => entry);
  }

  /** The kept output of one entry, base64. */
  output(commandId: string): string {
    const line = this.lines.find((kept) => kept.command_id === commandId);
    if (line === undefined) throw new Error(`no command ${commandId} in the history`);
    return line.output;
  }

  /** Resolves once every write so far is on disk (or failed). */
  flushed(): Promise<void> {
    return this.writing;
  }

  private async replaceFile(text: string): Promise<void> {
    const temporary = `${this.path}.tmp`;
    await writeFile(temporary, text, { mode: 0o600 });
    await rename(temporary, this.path);
  }
}

function parseLine(text: string): Line | null {
  try {
    const parsed = lineSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
