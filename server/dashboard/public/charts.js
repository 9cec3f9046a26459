/**
 * Two pictures of the last hour, drawn by uPlot: a timeline per slave of its
 * phases' boots, restarts and crashes and of the commands that ran, and the
 * commands per minute with their median duration.
 */
import uPlot from "/dashboard/vendor/uPlot.esm.js";

const HOUR_S = 3600;
const MINUTE_S = 60;
/** Within a slave's lane, each kind of mark at its own height, so none hides another. */
const KINDS = [
  { key: "ready", label: "booted", color: "--ready", offset: 0.3 },
  { key: "restart", label: "restarted", color: "--booting", offset: 0.1 },
  { key: "crashed", label: "crashed", color: "--crashed", offset: -0.1 },
  { key: "command", label: "command", color: "--command", offset: -0.3 },
];

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
const seconds = (iso) => Date.parse(iso) / 1000;

/** Which kind of mark a phase's change of state is, if any. */
function kindOf(event) {
  if (event.state === "ready") return "ready";
  if (event.state === "crashed") return "crashed";
  if (event.state === "booting" && event.reason !== undefined) return "restart";
  return null;
}

export class Charts {
  #timeline = null;
  #activity = null;
  #lanes = [];

  #drawn = [[], []];

  constructor({ timeline, activity }) {
    this.timelineElement = timeline;
    this.activityElement = activity;
    // uPlot takes its colours once: a change of the system's scheme draws both anew.
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
      this.#timeline?.destroy();
      this.#activity?.destroy();
      this.#timeline = this.#activity = null;
      this.update(...this.#drawn);
    });
    new ResizeObserver(() => {
      const width = this.timelineElement.clientWidth;
      this.#timeline?.setSize({ width, height: this.#timeline.height });
      this.#activity?.setSize({ width, height: this.#activity.height });
    }).observe(timeline);
  }

  /** Draws both again from the phases' changes and the history, over the hour up to now. */
  update(events, entries) {
    this.#drawn = [events, entries];
    const now = Date.now() / 1000;
    const recent = entries.filter((entry) => seconds(entry.started) >= now - HOUR_S);
    this.#drawTimeline(
      events.filter((event) => seconds(event.at) >= now - HOUR_S),
      recent,
      now,
    );
    this.#drawActivity(recent, now);
  }

  #drawTimeline(events, entries, now) {
    const lanes = [...new Set([...events.map((event) => event.slave), ...entries.map((entry) => entry.slave)])].sort();
    const marks = [
      ...events.map((event) => ({ at: seconds(event.at), slave: event.slave, kind: kindOf(event) })),
      ...entries.map((entry) => ({ at: seconds(entry.started), slave: entry.slave, kind: "command" })),
    ]
      .filter((mark) => mark.kind !== null)
      .sort((a, b) => a.at - b.at);
    this.timelineElement.dataset.marks = String(marks.length);
    const data = [marks.map((mark) => mark.at)];
    for (const kind of KINDS) {
      data.push(marks.map((mark) => (mark.kind === kind.key ? lanes.indexOf(mark.slave) + kind.offset : null)));
    }
    if (this.#timeline === null || lanes.join("\n") !== this.#lanes.join("\n")) {
      this.#timeline?.destroy();
      this.#lanes = lanes;
      this.#timeline = new uPlot(this.#timelineOptions(lanes, now), data, this.timelineElement);
    } else {
      this.#timeline.setData(data, false);
      this.#timeline.setScale("x", { min: now - HOUR_S, max: now });
    }
  }

  #timelineOptions(lanes, now) {
    return {
      width: this.timelineElement.clientWidth,
      height: 70 + 50 * Math.max(1, lanes.length),
      scales: { x: { time: true, range: () => [now - HOUR_S, now] }, y: { range: [-0.5, lanes.length - 0.5] } },
      axes: [
        axis(),
        axis({ splits: () => lanes.map((_, index) => index), values: () => lanes, size: 90, grid: { show: false } }),
      ],
      series: [
        {},
        ...KINDS.map((kind) => ({
          label: kind.label,
          stroke: css(kind.color),
          paths: () => null,
          points: { show: true, size: 8, fill: css(kind.color), stroke: css(kind.color) },
        })),
      ],
      cursor: { drag: { x: false, y: false } },
    };
  }

  #drawActivity(entries, now) {
    const start = Math.floor((now - HOUR_S) / MINUTE_S) * MINUTE_S;
    const minutes = Array.from({ length: HOUR_S / MINUTE_S + 1 }, (_, index) => start + index * MINUTE_S);
    const durations = minutes.map(() => []);
    for (const entry of entries) {
      const index = Math.floor((seconds(entry.started) - start) / MINUTE_S);
      durations[index]?.push(entry.duration);
    }
    const data = [minutes, durations.map((list) => list.length), durations.map(median)];
    this.activityElement.dataset.commands = String(entries.length);
    if (this.#activity === null) this.#activity = new uPlot(this.#activityOptions(), data, this.activityElement);
    else this.#activity.setData(data);
  }

  #activityOptions() {
    return {
      width: this.activityElement.clientWidth,
      height: 200,
      scales: { x: { time: true }, n: { range: (_, __, max) => [0, Math.max(1, max)] }, s: { auto: true } },
      axes: [axis(), axis({ scale: "n", label: "commands / min" }), axis({ scale: "s", side: 1, label: "median s" })],
      series: [
        {},
        {
          label: "commands",
          scale: "n",
          stroke: css("--command"),
          fill: `${css("--command")}66`,
          paths: uPlot.paths.bars({ size: [0.8, 12] }),
          points: { show: false },
        },
        { label: "median duration (s)", scale: "s", stroke: css("--booting"), width: 2, spanGaps: true },
      ],
    };
  }
}

/** An axis in the page's colours. */
function axis(options = {}) {
  const line = { stroke: css("--line"), width: 1 };
  return { stroke: css("--muted"), grid: line, ticks: line, ...options };
}

function median(values) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
