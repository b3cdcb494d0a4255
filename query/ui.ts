// Serves the built web UI (ui/dist, made by `npm run build:ui`) at / on the query port. Unknown GET paths
// outside the APIs answer index.html too, so a deep link into the single-page app opens it; API paths keep
// answering 404 as JSON. Hashed assets are cached for a year, index.html is revalidated on every load.
import { readFile, stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';

export const DEFAULT_UI_DIR = fileURLToPath(new URL('../ui/dist/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** Path prefixes that belong to APIs: never answered with the app. */
const API_PREFIXES = ['/api/', '/prometheus/', '/tempo/', '/metrics', '/healthz', '/readyz'];

const NOT_BUILT_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>meshlens: web UI not built</title></head>
<body style="font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em">
<h1>meshlens is running, but its web UI is not built</h1>
<p>Run <code>npm run build:ui</code> in the meshlens checkout and reload this page
(<code>npm start</code> builds it for you when it is missing or stale).</p>
<p>The APIs work meanwhile: <a href="api/services">/api/services</a>, <a href="api/v1/service-graph">/api/v1/service-graph</a>, <a href="metrics">/metrics</a>.</p>
</body></html>
`;

export interface UiOptions {
  /** The built app; defaults to ui/dist beside this checkout. */
  uiDir?: string;
}

export const uiPlugin: FastifyPluginAsync<UiOptions> = async (app, options) => {
  const root = resolve(options.uiDir ?? DEFAULT_UI_DIR);

  async function sendFile(reply: FastifyReply, path: string): Promise<boolean> {
    let body: Buffer;
    try {
      if (!(await stat(path)).isFile()) return false;
      body = await readFile(path);
    } catch {
      return false;
    }
    const hashed = path.startsWith(`${root}${sep}assets${sep}`);
    reply
      .header('content-type', CONTENT_TYPES[extname(path)] ?? 'application/octet-stream')
      .header('cache-control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache')
      .header('x-content-type-options', 'nosniff');
    await reply.send(body);
    return true;
  }

  async function sendApp(reply: FastifyReply): Promise<void> {
    if (await sendFile(reply, resolve(root, 'index.html'))) return;
    await reply.code(503).header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-cache').send(NOT_BUILT_PAGE);
  }

  app.get('/', async (_request, reply) => sendApp(reply));
  app.get('/*', async (request, reply) => {
    let path: string;
    try {
      path = decodeURIComponent(request.url.split('?')[0]!);
    } catch {
      return reply.code(400).send({ error: `malformed path: ${request.url.split('?')[0]}` });
    }
    if (API_PREFIXES.some((prefix) => path === prefix.replace(/\/$/, '') || path.startsWith(prefix))) {
      return reply.code(404).send({ error: `no such endpoint: ${request.method} ${request.url.split('?')[0]}` });
    }
    // The page loads ./assets/… relative to its own path, so a deep link /a/b asks for /a/assets/…: any
    // path through an assets/ segment is a build asset.
    const assetAt = path.lastIndexOf('/assets/');
    const file = resolve(root, assetAt === -1 ? `.${path}` : `.${path.slice(assetAt)}`);
    // A file of the build (never outside it), else the app itself for a deep link.
    if (file.startsWith(`${root}${sep}`) && (await sendFile(reply, file))) return;
    if (assetAt !== -1) return reply.code(404).header('content-type', 'text/plain; charset=utf-8').send(`no such file: ${path} (rebuild the UI: npm run build:ui)`);
    return sendApp(reply);
  });
};
