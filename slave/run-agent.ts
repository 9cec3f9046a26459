import { createLogger } from "../shared/log.js";
import { onShutdownSignal } from "../shared/shutdown.js";
import { socketUrl } from "../shared/url.js";
import { MasterConnection, idForName } from "./master-connection.js";

export interface SlaveCommandOptions {
  master: string;
  name: string;
  id?: number;
  token: string;
}

/** `olympus slave`: stay connected to the master until a signal. */
export function runSlaveCommand(options: SlaveCommandOptions): void {
  const log = createLogger(`slave ${options.name}`);
  const connection = new MasterConnection({
    url: socketUrl(options.master),
    token: options.token,
    name: options.name,
    id: options.id ?? idForName(options.name),
    onRefused: (reason) => {
      log(reason);
      process.exit(1);
    },
    log,
  });
  connection.start();
  onShutdownSignal(() => connection.stop("agent shutting down"));
}
