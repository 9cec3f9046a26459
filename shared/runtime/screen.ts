/** Fitting the live status chart of `olympus start` into the terminal, so that nothing scrolls it away. */

/** A colour code (SGR); it takes no room on screen. */
const COLOR_CODE = "\u001b\\[[0-9;]*m";
const ANSI = new RegExp(COLOR_CODE, "y");
const ALL_ANSI = new RegExp(COLOR_CODE, "g");

/** The line cut to `width` visible characters (colour codes kept, and reset after a cut), ending in `…` when cut. */
export function clip(line: string, width: number): string {
  let visible = 0;
  let out = "";
  for (let index = 0; index < line.length; ) {
    ANSI.lastIndex = index;
    const code = ANSI.exec(line);
    if (code !== null) {
      out += code[0];
      index += code[0].length;
      continue;
    }
    const character = String.fromCodePoint(line.codePointAt(index) as number);
    if (visible === width - 1 && visibleLength(line.slice(index)) > 1) return `${out}…\x1b[0m`;
    out += character;
    visible++;
    index += character.length;
  }
  return out;
}

function visibleLength(text: string): number {
  return [...text.replace(ALL_ANSI, "")].length;
}

/** How many log lines to keep under the chart, at most. */
const MAX_LOG_LINES = 12;

/**
 * One screen: the chart on top, then a blank line and the latest log lines,
 * in `rows - 1` lines of fewer than `columns` characters, so the terminal
 * never scrolls. The log gets what the chart leaves, at least a third of the
 * screen; a chart taller than its share shows its top and says how much is hidden.
 */
export function fitScreen(chart: string[], log: string[], columns: number, rows: number): string {
  const height = Math.max(1, rows - 1);
  const width = Math.max(10, columns - 1);
  const logShare = Math.min(log.length, MAX_LOG_LINES, Math.max(Math.floor(height / 3), height - chart.length - 1));
  const chartShare = height - (logShare > 0 ? logShare + 1 : 0);
  const shown =
    chart.length <= chartShare
      ? chart
      : [...chart.slice(0, chartShare - 1), `… ${chart.length - chartShare + 1} more lines: control status`];
  const lines = [...shown.map((line) => clip(line, width))];
  if (logShare > 0) lines.push("", ...log.slice(-logShare).map((line) => clip(line, width)));
  return `${lines.join("\n")}\n`;
}
