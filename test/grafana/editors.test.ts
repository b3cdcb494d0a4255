// The plugin's editors (ConfigEditor, QueryEditor, VariableQueryEditor) rendered for real: a harness page
// (editors-harness/) bundled by Vite with the editors' own sources, React 19 and @grafana/ui, opened in Debian's
// Chromium through playwright-core. Each editor is driven the way a user does (typing, picking from Grafana's
// Select, clicking) and every change is checked in the object the editor hands to Grafana — the calls the
// harness records on window.editorCalls. Screenshots go to test-artifacts/grafana-*.png.
import assert from 'node:assert/strict';
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, extname, join, normalize } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import type { MeshlensQuery } from '../../ui/grafana-datasource/src/types.ts';
import { ARTIFACTS, type TestBrowser, launchBrowser, skipWithoutChromium } from '../helpers/browser.ts';
import type { EditorCalls } from './editors-harness/main.tsx';

const HARNESS = join(import.meta.dirname, 'editors-harness');
const CONTENT_TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.woff2': 'font/woff2' };

let outDir: string;
let server: Server;
let baseUrl: string;
let browser: TestBrowser;

/** Bundles the harness (the editors from ui/grafana-datasource/src, classic JSX as the plugin build uses). */
async function buildHarness(dir: string): Promise<void> {
  const vite = await import('vite');
  await vite.build({
    configFile: false,
    root: HARNESS,
    logLevel: 'error',
    oxc: { jsx: { runtime: 'classic' } },
    build: { outDir: dir, emptyOutDir: true, minify: false, reportCompressedSize: false, chunkSizeWarningLimit: 100_000 },
  });
}

// Grafana serves @grafana/ui's icons under /public/build/img/ (the Icon component fetches its SVGs there).
const GRAFANA_UI_IMG = join(dirname(createRequire(import.meta.url).resolve('@grafana/ui/package.json')), 'dist', 'public', 'img');

/** The bundle at /, and @grafana/ui's images where Grafana serves them. */
function serveHarness(bundle: string): Promise<Server> {
  const roots: Array<[prefix: string, dir: string]> = [
    ['/public/build/img/', GRAFANA_UI_IMG],
    ['/', bundle],
  ];
  const http = createServer((request, response) => {
    const pathname = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
    const [prefix, dir] = roots.find(([p]) => pathname.startsWith(p))!;
    const file = join(dir, normalize(pathname.slice(prefix.length) || 'index.html'));
    if (!file.startsWith(dir) || !statSync(file, { throwIfNoEntry: false })?.isFile()) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream' });
    createReadStream(file).pipe(response);
  });
  return new Promise((resolve) => http.listen(0, '127.0.0.1', () => resolve(http)));
}

type HarnessPage = Page & { problems: string[] };

async function openHarness(search = ''): Promise<HarnessPage> {
  const page = await browser.context.newPage();
  // Everything here is local and settles in well under a second: a broken editor fails fast, not after 30 s.
  page.setDefaultTimeout(5_000);
  const problems: string[] = [];
  page.on('response', (response) => {
    // Grafana's web fonts (/public/fonts/) are not in its npm packages: the page falls back to a system font.
    if (response.status() >= 400 && !new URL(response.url()).pathname.startsWith('/public/fonts/')) problems.push(`HTTP ${response.status()} ${response.url()}`);
  });
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('console', (message) => {
    // Failed loads are reported above with their URL.
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(message.text());
  });
  await page.goto(`${baseUrl}/${search}`);
  await page.waitForSelector('[data-harness="ready"]', { state: 'attached' });
  assert.deepEqual(problems, [], 'no script errors while the editors mount');
  return Object.assign(page, { problems });
}

const calls = (page: Page): Promise<EditorCalls> => page.evaluate(() => window.editorCalls);
const section = (page: Page, editor: 'config' | 'query' | 'variable'): Locator => page.locator(`[data-editor="${editor}"]`);

async function lastQuery(page: Page): Promise<MeshlensQuery> {
  const { queries } = await calls(page);
  assert.ok(queries.length > 0, 'the query editor called onChange');
  return queries.at(-1)!;
}

/** The labels of the query editor's fields, in order (what the user sees for this query type). */
async function queryFieldLabels(page: Page): Promise<string[]> {
  return section(page, 'query').locator('label[id], fieldset > span[id]').allInnerTexts();
}

/** Picks `option` in the Grafana Select labelled `label` (a react-select: open, then click the option). */
async function pick(page: Page, label: string, option: string): Promise<void> {
  await section(page, 'query').getByLabel(label, { exact: true }).click();
  // An option's accessible name includes its description: match the label text alone.
  await page.getByRole('option').filter({ has: page.getByText(option, { exact: true }) }).click();
}

async function screenshot(page: Page, editor: 'config' | 'query' | 'variable', name: string): Promise<void> {
  await section(page, editor).screenshot({ path: join(ARTIFACTS, `grafana-${name}.png`), animations: 'disabled' });
}

describe('Grafana plugin editors in Chromium', { skip: skipWithoutChromium }, () => {
  before(async () => {
    outDir = mkdtempSync(join(tmpdir(), 'meshlens-editors-'));
    await buildHarness(outDir);
    server = await serveHarness(outDir);
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await launchBrowser({ width: 1100, height: 700 });
  });
  after(async () => {
    await browser?.close();
    await new Promise((resolve) => server?.close(resolve));
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  it('config editor: the URL goes to jsonData.url, the auth header to secureJsonData', async () => {
    const page = await openHarness();
    const config = section(page, 'config');
    const url = config.getByLabel('URL', { exact: true });
    const auth = config.getByLabel('Auth header', { exact: true });
    assert.equal(await url.getAttribute('placeholder'), 'http://meshlens:16686');
    assert.equal(await auth.getAttribute('type'), 'password', 'the auth header is typed into a password field');

    // Key by key, as a user types (a URL has slashes in the middle: the field must keep them).
    await url.pressSequentially('http://meshlens:16686/');
    let { options } = await calls(page);
    assert.equal(options.length, 'http://meshlens:16686/'.length, 'one onOptionsChange per keystroke');
    assert.deepEqual(options.at(-1)!.jsonData, { url: 'http://meshlens:16686/' });
    assert.equal(options.at(-1)!.secureJsonData, undefined, 'typing the URL leaves the secrets alone');
    await url.blur();
    ({ options } = await calls(page));
    assert.deepEqual(options.at(-1)!.jsonData, { url: 'http://meshlens:16686' }, 'the trailing slash goes when the field is left');
    assert.equal(await url.inputValue(), 'http://meshlens:16686');

    await auth.fill('Bearer s3cret');
    ({ options } = await calls(page));
    assert.deepEqual(options.at(-1)!.secureJsonData, { authHeader: 'Bearer s3cret' });
    assert.deepEqual(options.at(-1)!.jsonData, { url: 'http://meshlens:16686' }, 'the secret is not put in jsonData');
    assert.equal(await auth.inputValue(), 'Bearer s3cret');
    await screenshot(page, 'config', 'config-editor');
    assert.deepEqual(page.problems, [], 'no script errors');
    await page.close();
  });

  it('config editor: a saved auth header shows as configured and Reset clears it', async () => {
    const page = await openHarness('?authConfigured=1');
    const config = section(page, 'config');
    const auth = config.getByLabel('Auth header', { exact: true });
    assert.equal(await auth.inputValue(), 'configured');
    assert.equal(await auth.isDisabled(), true, 'a saved secret is not shown or editable');
    await screenshot(page, 'config', 'config-editor-configured');

    await config.getByRole('button', { name: 'Reset' }).click();
    const { options } = await calls(page);
    assert.equal(options.length, 1);
    assert.deepEqual(options[0]!.secureJsonFields, { authHeader: false });
    assert.deepEqual(options[0]!.secureJsonData, { authHeader: '' });
    assert.equal(await auth.isEditable(), true, 'after Reset a new header can be typed');
    assert.equal(await auth.inputValue(), '');
    await auth.fill('Basic dXNlcjpwdw==');
    assert.deepEqual((await calls(page)).options.at(-1)!.secureJsonData, { authHeader: 'Basic dXNlcjpwdw==' });
    assert.deepEqual(page.problems, [], 'no script errors');
    await page.close();
  });

  it('query editor: each query type shows its fields, and each change reaches onChange', async () => {
    const page = await openHarness();
    const query = section(page, 'query');
    const field = (label: string) => query.getByLabel(label, { exact: true });

    // Service graph (the default): namespace, focus, signal, main stat.
    assert.deepEqual(await queryFieldLabels(page), ['Query type', 'Signal', 'Namespace', 'Focus', 'Main stat']);
    await field('Namespace').fill('shop');
    assert.deepEqual(await lastQuery(page), { refId: 'A', queryType: 'serviceGraph', signal: 'all', graphMainStat: 'rps', namespace: 'shop' });
    await field('Focus').fill('shop/checkout');
    assert.equal((await lastQuery(page)).service, 'shop/checkout');
    let runs = (await calls(page)).runQuery;
    await field('Focus').blur();
    assert.equal((await calls(page)).runQuery, runs + 1, 'leaving a text field runs the query');
    runs += 1;
    await pick(page, 'Signal', 'envoy-als');
    assert.equal((await lastQuery(page)).signal, 'envoy-als');
    assert.equal((await calls(page)).runQuery, runs + 1, 'a new signal runs the query');
    await query.getByRole('radio', { name: 'p95' }).click();
    assert.deepEqual(await lastQuery(page), { refId: 'A', queryType: 'serviceGraph', signal: 'envoy-als', graphMainStat: 'p95', namespace: 'shop', service: 'shop/checkout' });
    await screenshot(page, 'query', 'query-editor-graph');

    // RED: service + operation, or an edge's source and target; step; signal.
    runs = (await calls(page)).runQuery;
    await pick(page, 'Query type', 'RED');
    assert.equal((await lastQuery(page)).queryType, 'red');
    assert.equal((await calls(page)).runQuery, runs + 1, 'a new query type runs the query');
    assert.deepEqual(await queryFieldLabels(page), ['Query type', 'Signal', 'Service', 'Operation', 'Edge from', 'Edge to', 'Step']);
    assert.equal(await field('Service').inputValue(), 'shop/checkout', 'the service carries over');
    await field('Operation').fill('GET /cart');
    await field('Edge from').fill('shop/frontend');
    await field('Edge to').fill('shop/checkout');
    await field('Step').fill('5m');
    assert.deepEqual(await lastQuery(page), {
      refId: 'A',
      queryType: 'red',
      signal: 'envoy-als',
      graphMainStat: 'p95',
      namespace: 'shop',
      service: 'shop/checkout',
      operation: 'GET /cart',
      source: 'shop/frontend',
      target: 'shop/checkout',
      step: '5m',
    });
    await screenshot(page, 'query', 'query-editor-red');

    // Latency histogram: the same selectors, no step. Heatmap: with step.
    await pick(page, 'Query type', 'Latency histogram');
    assert.equal((await lastQuery(page)).queryType, 'latency');
    assert.deepEqual(await queryFieldLabels(page), ['Query type', 'Signal', 'Service', 'Operation', 'Edge from', 'Edge to']);
    await pick(page, 'Query type', 'Latency heatmap');
    assert.equal((await lastQuery(page)).queryType, 'latencyHeatmap');
    assert.deepEqual(await queryFieldLabels(page), ['Query type', 'Signal', 'Service', 'Operation', 'Edge from', 'Edge to', 'Step']);

    // Trace search: no signal; service, operation, tags, durations, limit.
    await pick(page, 'Query type', 'Trace search');
    assert.equal((await lastQuery(page)).queryType, 'traceSearch');
    assert.deepEqual(await queryFieldLabels(page), ['Query type', 'Service', 'Operation', 'Limit', 'Tags', 'Min duration', 'Max duration']);
    await field('Tags').fill('http.status_code=500');
    await field('Min duration').fill('100ms');
    await field('Max duration').fill('2s');
    const limit = field('Limit');
    assert.equal(await limit.getAttribute('placeholder'), '20', 'no limit set: the default shows');
    await limit.pressSequentially('5');
    assert.equal((await lastQuery(page)).limit, 5);
    // Erased key by key and retyped, as a user changes it: an emptied field stays empty (the default applies).
    await limit.press('Backspace');
    assert.equal((await lastQuery(page)).limit, undefined);
    assert.equal(await limit.inputValue(), '');
    await limit.pressSequentially('50');
    const search = await lastQuery(page);
    assert.deepEqual([search.tags, search.minDuration, search.maxDuration, search.limit], ['http.status_code=500', '100ms', '2s', 50]);
    await screenshot(page, 'query', 'query-editor-trace-search');

    // Trace by id: just the id.
    await pick(page, 'Query type', 'Trace by id');
    assert.deepEqual(await queryFieldLabels(page), ['Query type', 'Trace ID']);
    await field('Trace ID').fill('0000000000000000000000000000abcd');
    const byId = await lastQuery(page);
    assert.equal(byId.queryType, 'traceId');
    assert.equal(byId.traceId, '0000000000000000000000000000abcd');
    await screenshot(page, 'query', 'query-editor-trace-id');

    // Back to the graph: the fields it had are still there.
    await pick(page, 'Query type', 'Service graph');
    assert.equal(await field('Namespace').inputValue(), 'shop');
    assert.deepEqual(page.problems, [], 'no script errors');
    await page.close();
  });

  it('variable editor: the query string goes to onChange when the field is left', async () => {
    const page = await openHarness();
    const input = section(page, 'variable').getByLabel('Query', { exact: true });
    assert.equal(await input.inputValue(), 'services');
    await input.fill('services($namespace)');
    await input.blur();
    const { variable } = await calls(page);
    assert.deepEqual(variable, [{ query: { query: 'services($namespace)' }, definition: 'services($namespace)' }]);
    await screenshot(page, 'variable', 'variable-editor');
    assert.deepEqual(page.problems, [], 'no script errors');
    await page.close();
  });
});
