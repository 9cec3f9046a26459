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

/** The dashboard's address for a master's WebSocket URL: the same host, over http(s). */
export function dashboardUrl(masterSocketUrl: string): string {
  const url = new URL(masterSocketUrl);
  url.protocol = url.protocol === "wss:" ? "https:" : "http:";
  url.pathname = url.pathname.replace(new RegExp(`${SOCKET_PATH}$`), "/");
  return url.toString();
}

/** The dashboard with a token in the fragment, which browsers never send: the page signs in with it and then removes it. */
export function signInLink(masterSocketUrl: string, token: string): string {
  return `${dashboardUrl(masterSocketUrl)}#token=${encodeURIComponent(token)}`;
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
