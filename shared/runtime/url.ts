export const SOCKET_PATH = "/api/socket";

/**
 * Accepts `ws://`, `wss://`, `http://` or `https://` with or without
 * `/api/socket`, and a bare `host:port`, and returns the WebSocket URL.
 */
export function socketUrl(input: string): string {
  const withScheme = /^[a-z]+:\/\//i.test(input) ? input : `ws://${input}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error(`master URL ${JSON.stringify(input)} is not a valid URL`);
  }
  const schemes: Record<string, string> = { "ws:": "ws:", "http:": "ws:", "wss:": "wss:", "https:": "wss:" };
  const scheme = schemes[url.protocol];
  if (scheme === undefined)
    throw new Error(`master URL ${JSON.stringify(input)} must start with ws://, wss://, http:// or https://`);
  url.protocol = scheme;
  url.pathname = url.pathname.replace(/\/+$/, "").replace(new RegExp(`${SOCKET_PATH}$`), "") + SOCKET_PATH;
  return url.toString();
}

/** A comma-separated list of masters (for failover), each as `socketUrl` takes it. */
export function socketUrls(input: string): string[] {
  const urls = input
    .split(",")
    .filter((item) => item.trim() !== "")
    .map((item) => socketUrl(item.trim()));
  if (urls.length === 0) throw new Error(`master URL list ${JSON.stringify(input)} is empty`);
  return urls;
}
