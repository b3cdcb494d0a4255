// The UI plugin on its own, over real HTTP (fastify inject): what / answers when the UI is not built, and
// that a built app's files are served with their types and cache headers and never from outside the build.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Fastify from 'fastify';
import { uiPlugin } from './ui.ts';

const dirs: string[] = [];
after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

async function serve(uiDir: string) {
  const app = Fastify();
  await app.register(uiPlugin, { uiDir });
  await app.ready();
  return app;
}

describe('web UI serving', () => {
  it('answers / with a page that says to build the UI when ui/dist is missing', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'meshlens-ui-'));
    dirs.push(empty);
    const app = await serve(join(empty, 'dist'));
    for (const url of ['/', '/deep/link']) {
      const response = await app.inject({ url });
      assert.equal(response.statusCode, 503);
      assert.match(response.headers['content-type'] as string, /^text\/html/);
      assert.match(response.body, /npm run build:ui/);
    }
    await app.close();
  });

  it('serves the build: index for / and deep links, typed and cached assets, nothing outside the build', async () => {
    const root = mkdtempSync(join(tmpdir(), 'meshlens-ui-'));
    dirs.push(root);
    const dist = join(root, 'dist');
    mkdirSync(join(dist, 'assets'), { recursive: true });
    writeFileSync(join(dist, 'index.html'), '<!doctype html><script type="module" src="./assets/index-abc123.js"></script>');
    writeFileSync(join(dist, 'assets', 'index-abc123.js'), 'console.log(1)');
    writeFileSync(join(dist, 'assets', 'index-abc123.css'), 'body{}');
    writeFileSync(join(root, 'secret.txt'), 'outside the build');
    const app = await serve(dist);

    for (const url of ['/', '/?view=graph&node=a%2Fb', '/traces/0123abcd']) {
      const page = await app.inject({ url });
      assert.equal(page.statusCode, 200, url);
      assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
      assert.equal(page.headers['cache-control'], 'no-cache');
      assert.match(page.body, /index-abc123\.js/);
    }
    const script = await app.inject({ url: '/assets/index-abc123.js' });
    assert.equal(script.statusCode, 200);
    assert.equal(script.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(script.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(script.body, 'console.log(1)');
    assert.equal((await app.inject({ url: '/assets/index-abc123.css' })).headers['content-type'], 'text/css; charset=utf-8');
    // A deep link two levels down loads ./assets/… relative to itself.
    assert.equal((await app.inject({ url: '/traces/assets/index-abc123.js' })).body, 'console.log(1)');
    assert.equal((await app.inject({ url: '/%E0%A4%A' })).statusCode, 400);

    const missing = await app.inject({ url: '/assets/index-gone.js' });
    assert.equal(missing.statusCode, 404, 'a missing asset is a 404, not the app');
    for (const url of ['/..%2fsecret.txt', '/assets/..%2f..%2fsecret.txt', '/%2e%2e/secret.txt']) {
      const response = await app.inject({ url });
      assert.doesNotMatch(response.body, /outside the build/, url);
    }
    const api = await app.inject({ url: '/api/nope' });
    assert.equal(api.statusCode, 404);
    assert.deepEqual(api.json(), { error: 'no such endpoint: GET /api/nope' });
    await app.close();
  });
});
