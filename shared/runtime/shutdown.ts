/** Runs `stop` once on the first SIGINT, SIGTERM or SIGHUP, then exits with 128 + the signal number. */
export function onShutdownSignal(stop: (signal: NodeJS.Signals) => Promise<void> | void): void {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };
  let stopping = false;
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      Promise.resolve(stop(signal)).finally(() => process.exit(128 + (numbers[signal] as number)));
    });
  }
}
