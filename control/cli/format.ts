/** Plain-text tables for the terminal: columns padded to their widest cell. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] as number))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** `3d4h`, `5m12s`, `42s`: how long ago an ISO time was. */
export function age(since: string, now = Date.now()): string {
  let seconds = Math.max(0, Math.round((now - Date.parse(since)) / 1000));
  const units: [string, number][] = [
    ["d", 86400],
    ["h", 3600],
    ["m", 60],
    ["s", 1],
  ];
  const parts: string[] = [];
  for (const [unit, size] of units) {
    if (seconds >= size || (unit === "s" && parts.length === 0)) parts.push(`${Math.floor(seconds / size)}${unit}`);
    seconds %= size;
    if (parts.length === 2) break;
  }
  return parts.join("");
}
