/**
 * Which objects a master's memory per connection is made of: two heap
 * snapshots (taken through `--heapsnapshot-signal`) compared kind by kind.
 */
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import { eventually } from "../test/helpers/processes.js";

const snapshotsIn = (directory: string) => readdirSync(directory).filter((name) => name.endsWith(".heapsnapshot"));

/** Asks the process (started with --heapsnapshot-signal=SIGUSR2, in `directory`) for a snapshot and waits until it is written. */
export async function snapshot(pid: number, directory: string): Promise<void> {
  const before = new Set(snapshotsIn(directory));
  process.kill(pid, "SIGUSR2");
  let written: string | undefined;
  await eventually(
    () => {
      written ??= snapshotsIn(directory).find((name) => !before.has(name));
      return written !== undefined && endsJson(join(directory, written));
    },
    60_000,
    "the heap snapshot",
  );
}

/** The file appears before it is complete; a complete snapshot is one JSON object. */
function endsJson(path: string): boolean {
  const { size } = statSync(path);
  if (size === 0) return false;
  const last = Buffer.alloc(1);
  const fd = openSync(path, "r");
  try {
    readSync(fd, last, 0, 1, size - 1);
  } finally {
    closeSync(fd);
  }
  return last.toString() === "}";
}
/** Self size per constructor (or per kind, for strings, arrays, code …) in one snapshot. */
function sizesByKind(path: string): Map<string, { bytes: number; count: number }> {
  const heap = JSON.parse(readFileSync(path, "utf8")) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = heap.snapshot.meta.node_fields;
  const [typeNames] = heap.snapshot.meta.node_types;
  const [typeAt, nameAt, sizeAt] = ["type", "name", "self_size"].map((field) => fields.indexOf(field)) as [
    number,
    number,
    number,
  ];
  const sizes = new Map<string, { bytes: number; count: number }>();
  for (let at = 0; at < heap.nodes.length; at += fields.length) {
    const type = typeNames[heap.nodes[at + typeAt] as number] as string;
    const kind = ["object", "closure", "native", "hidden"].includes(type)
      ? `${type} ${heap.strings[heap.nodes[at + nameAt] as number]}`
      : type;
    const entry = sizes.get(kind) ?? { bytes: 0, count: 0 };
    entry.bytes += heap.nodes[at + sizeAt] as number;
    entry.count++;
    sizes.set(kind, entry);
  }
  return sizes;
}

/** The kinds of object that grew most between the two snapshots, per connection. */
export function explainSnapshots(directory: string, connections: number): string[] {
  const files = readdirSync(directory)
    .filter((name) => name.endsWith(".heapsnapshot"))
    .sort();
  if (files.length < 2) return ["(no heap snapshots were written)"];
  const [before, after] = files.slice(-2).map((name) => sizesByKind(join(directory, name))) as [
    ReturnType<typeof sizesByKind>,
    ReturnType<typeof sizesByKind>,
  ];
  const growth = [...after].map(([kind, { bytes, count }]) => ({
    kind,
    bytes: bytes - (before.get(kind)?.bytes ?? 0),
    count: count - (before.get(kind)?.count ?? 0),
  }));
  growth.sort((a, b) => b.bytes - a.bytes);
  const total = growth.reduce((sum, entry) => sum + entry.bytes, 0);
  const rows = growth
    .slice(0, 20)
    .map(
      ({ kind, bytes, count }) =>
        `| ${kind.replace(/\|/g, "\\|").slice(0, 60)} | ${(bytes / connections).toFixed(0)} | ${(count / connections).toFixed(1)} |`,
    );
  return [
    [
      `JS heap growth per connection (heap snapshots, after a full GC; self sizes): ${(total / connections / 1024).toFixed(1)} KB. The largest kinds:`,
      "",
      "| kind | bytes per connection | objects per connection |",
      "|---|---|---|",
      ...rows,
    ].join("\n"),
  ];
}
