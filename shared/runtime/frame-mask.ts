import { isIP } from "node:net";

const zeroKey = (mask: Buffer): void => {
  mask.fill(0);
};

/**
 * The masking key for a client's frames to this master. RFC 6455 masks them
 * so that a script in a browser cannot make bytes it chose look like HTTP to
 * a proxy on the way (section 10.3). Over TLS, or to a loopback address, no
 * such proxy reads the frames; there the key is all zeros, and ws then skips
 * the XOR and the copy of every payload it needs. Elsewhere ws's random keys.
 */
export function maskKeyFor(socketUrl: string): ((mask: Buffer) => void) | undefined {
  const { protocol, hostname } = new URL(socketUrl);
  return protocol === "wss:" || isLoopback(hostname) ? zeroKey : undefined;
}

function isLoopback(hostname: string): boolean {
  const address = hostname.replace(/^\[|\]$/g, "");
  if (address === "localhost") return true;
  if (isIP(address) === 4) return address.startsWith("127.");
  return address === "::1";
}
