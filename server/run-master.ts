import { removeMasterFile, writeMasterFile } from "../shared/master-file.js";
import { createLogger } from "../shared/log.js";
import { onShutdownSignal } from "../shared/shutdown.js";
import { startMaster } from "./master.js";

export interface MasterCommandOptions {
  host: string;
  port: number;
  token?: string;
  handshakeTimeoutMs: number;
}

/** `olympus master`: serve until a signal, then close every peer with a reason. */
export async function runMasterCommand(options: MasterCommandOptions): Promise<void> {
  const log = createLogger("master");
  const master = await startMaster({ ...options, log });
  console.log(`olympus master listening on ${master.url}`);
  let masterFile: string | null = null;
  if (options.token === undefined) {
    masterFile = writeMasterFile(process.cwd(), { url: master.url, token: master.auth.token, pid: process.pid });
    console.log(`token written to ${masterFile} (readable by you only)`);
  }
  onShutdownSignal(async (signal) => {
    log(`${signal}: shutting down`);
    if (masterFile !== null) removeMasterFile(masterFile);
    await master.stop("master shutting down");
  });
}
