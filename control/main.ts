#!/usr/bin/env node
import { runControl } from "../control/cli.js";

await runControl(process.argv);
