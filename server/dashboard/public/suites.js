/** Test suites (`control test`) as the master reports them: a bar per slave, and the queue. */
import { element } from "./view.js";

/** How many suites stay on the page once over: the latest. */
const KEPT_SUITES = 3;

/** Keeps a suite's latest progress; suites over beyond the latest few are dropped. */
export function suiteProgress(suites, progress) {
  suites.delete(progress.suite_id);
  suites.set(progress.suite_id, progress);
  const over = [...suites.values()].filter((suite) => suite.over);
  for (const suite of over.slice(0, Math.max(0, over.length - KEPT_SUITES))) suites.delete(suite.suite_id);
}

export function renderSuites(container, suites) {
  if (suites.size === 0) return container.replaceChildren(element("p", { class: "empty" }, "No test suites yet."));
  container.replaceChildren(...[...suites.values()].reverse().map(suiteCard));
}

function suiteCard(suite) {
  const done = suite.slaves.reduce((sum, slave) => sum + slave.done, 0);
  const failures = suite.slaves.reduce((sum, slave) => sum + slave.failures, 0);
  const state = suite.over ? "over" : "running";
  return element(
    "article",
    { class: `suite ${state}`, "data-suite": suite.suite_id },
    element(
      "header",
      {},
      element("h3", {}, `control test (${suite.command})`),
      element(
        "span",
        { class: "meta" },
        `${state} · ${done}/${suite.total} files · ${failures} failed · queue ${suite.queued}`,
      ),
    ),
    element(
      "table",
      { class: "suite-slaves" },
      ...suite.slaves.map((slave) =>
        element(
          "tr",
          { "data-slave": slave.name },
          element("td", {}, slave.name),
          element("td", {}, element("progress", { max: String(suite.total), value: String(slave.done) })),
          element("td", {}, `${slave.done} done`),
          element("td", {}, `${slave.running} running`),
          element("td", { class: slave.failures > 0 ? "failed" : "" }, `${slave.failures} failed`),
        ),
      ),
    ),
  );
}
