import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { extname } from "node:path";
import type { FastifyInstance, FastifyReply } from "fastify";

/**
 * The page's files. tsc does not copy them to dist/, so they are read from the
 * source tree: this module runs as dist/server/dashboard/plugin.js.
 */
const PUBLIC_DIR = new URL("../../../server/dashboard/public/", import.meta.url);

/** The terminal emulator and the chart library the page imports, as they ship in node_modules, under `/dashboard/vendor/`. */
const VENDOR_FILES: Record<string, string> = {
  "xterm.mjs": "@xterm/xterm/lib/xterm.mjs",
  "xterm.css": "@xterm/xterm/css/xterm.css",
  "addon-fit.mjs": "@xterm/addon-fit/lib/addon-fit.mjs",
  "uPlot.esm.js": "uplot/dist/uPlot.esm.js",
  "uPlot.min.css": "uplot/dist/uPlot.min.css",
};

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
};

/**
 * The page talks only to its own origin, over HTTP and WebSocket; nothing else
 * may load. Inline styles are allowed because xterm sizes and colours its rows
 * with a style element of its own.
 */
const CONTENT_SECURITY_POLICY =
  "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'; base-uri 'none'; form-action 'none'";

/**
 * The dashboard: `GET /` and its assets under `/dashboard/`. The files need no
 * token; everything the page shows comes over /api/socket, which does.
 */
export async function dashboard(app: FastifyInstance): Promise<void> {
  // Read once at start: a missing file fails the master's start, not a visitor's request.
  const files = new Map(readdirSync(PUBLIC_DIR).map((name) => [name, readFileSync(new URL(name, PUBLIC_DIR))]));
  const require = createRequire(import.meta.url);
  const vendor = new Map(
    Object.entries(VENDOR_FILES).map(([name, path]) => [name, readFileSync(require.resolve(path))]),
  );
  const send = (reply: FastifyReply, name: string, body: Buffer | undefined) => {
    const type = CONTENT_TYPES[extname(name)];
    if (body === undefined || type === undefined) return reply.code(404).send({ error: "not found" });
    return reply
      .type(type)
      .header("cache-control", "no-cache")
      .header("content-security-policy", CONTENT_SECURITY_POLICY)
      .send(body);
  };

  app.get("/", (_request, reply) => send(reply, "index.html", files.get("index.html")));
  app.get<{ Params: { file: string } }>("/dashboard/:file", (request, reply) =>
    send(reply, request.params.file, files.get(request.params.file)),
  );
  app.get<{ Params: { file: string } }>("/dashboard/vendor/:file", (request, reply) =>
    send(reply, request.params.file, vendor.get(request.params.file)),
  );
}
