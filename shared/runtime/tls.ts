import { readFileSync } from "node:fs";

/** Reads a PEM file named by a command-line option; the error names the option, the file and what is wrong. */
export function readPemFile(path: string, option: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message;
    throw new Error(`${option} ${path}: ${reason}`);
  }
}

/** A master's certificate and key from `--tls-cert` and `--tls-key`, which go together; neither means plain HTTP. */
export function readServerTls(flags: { tlsCert?: string; tlsKey?: string }): { cert: Buffer; key: Buffer } | undefined {
  if (flags.tlsCert === undefined && flags.tlsKey === undefined) return undefined;
  if (flags.tlsCert === undefined || flags.tlsKey === undefined)
    throw new Error("--tls-cert and --tls-key go together");
  return { cert: readPemFile(flags.tlsCert, "--tls-cert"), key: readPemFile(flags.tlsKey, "--tls-key") };
}

/** The CA certificate a client trusts for wss:// besides the system's (`--ca`), if one is named. */
export function readCa(path: string | undefined): Buffer | undefined {
  return path === undefined ? undefined : readPemFile(path, "--ca");
}
