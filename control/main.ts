// The entry point esbuild bundles into dist/control.bundle.cjs (see bin/control.cts).
import { runControl } from "./cli/cli.js";

void runControl(process.argv);
