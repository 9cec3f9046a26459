import { createLogger } from "../shared/runtime/log.js";
import { refuseIfClaimed, removeMasterFile, writeMasterFile } from "../shared/runtime/master-file.js";
import { onShutdownSignal } from "../shared/runtime/shutdown.js";
import { readServerTls } from "../shared/runtime/tls.js";
import { signInLink } from "../shared/runtime/url.js";
import { issueLocalAdminToken } from "./auth/auth.js";
import { useAtomicMarking } from "./gc-tuning.js";
import { startMaster } from "./master.js";

export interface MasterCommandOptions {
  host: string;
  port: number;
  token?: string;
  tlsCert?: string;
  tlsKey?: string;
  handshakeTimeoutMs: number;
  handshakesPerMinute: number;
  heartbeatIntervalMs: number;
  sessionTimeoutMs: number;
  /** NATS servers to federate over (`--nats`, OLYMPUS_NATS). */
  nats?: string[];
  verbose?: boolean;
}

/** `olympus master`: serve until a signal, then close every peer with a reason. */
export async function runMasterCommand(options: MasterCommandOptions): Promise<void> {
  const log = createLogger("master");
  if (options.token === undefined) refuseIfClaimed(process.cwd());
  useAtomicMarking();
  const master = await startMaster({ ...options, tls: readServerTls(options), log });
  log(`olympus master listening on ${master.url}`);
  let masterFile: string | null = null;
  let token = options.token;
  if (token === undefined) {
    token = await issueLocalAdminToken(master.auth.store);
    masterFile = writeMasterFile(process.cwd(), {
      url: master.url,
      token,
      pid: process.pid,
      command: "olympus master",
    });
    log(`admin token written to ${masterFile} (readable by you only)`);
  }
  log(`dashboard: ${signInLink(master.url, token)}`);
  onShutdownSignal(async (signal) => {
    log(`${signal}: shutting down`);
    if (masterFile !== null) removeMasterFile(masterFile);
    await master.stop("master shutting down");
  });
}
