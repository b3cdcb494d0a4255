// The traffic graph in a real Chromium (Debian's, driven by playwright-core) against a real meshlens fed a
// bookinfo-like mesh through the OTLP receiver: the page draws exactly the API's nodes and edges, a click on
// a node selects it in the URL and a reload of that URL restores it, the empty and error states say what to
// do, and the dark theme applies.
// Screenshots go to test-artifacts/ (look at them after a UI change).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type BrowserContext, type Page, chromium } from 'playwright-core';
import { ensureUiBuilt } from '../../bin/build-ui.ts';
import type { GraphEdge, GraphNode } from '../../query/service-graph.ts';
import { getJson, startTestMeshlens, type TestMeshlens } from '../helpers/meshlens.ts';
import { type HandSpan, SPAN_KIND, otlpJsonRequest, postTraces } from '../helpers/otlp-json.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts');
// Without the browser a developer machine skips; CI (.ci/run installs chromium) must run it.
const skip = !existsSync(CHROMIUM) && !process.env.CI ? `no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM_PATH)` : false;

type Graph = { nodes: GraphNode[]; edges: GraphEdge[] };

let meshlens: TestMeshlens;
let context: BrowserContext;
let profileDir: string;

const { server: SERVER, client: CLIENT } = SPAN_KIND;
const ms = 1_000_000n;
const base = BigInt(Date.now() - 90_000) * ms;

/** One service (optionally one version of it) in bookinfo sending its spans. */
async function send(service: string, version: string | null, spans: HandSpan[]): Promise<void> {
  const request = JSON.parse(otlpJsonRequest(service, 'bookinfo', base, spans)) as { resourceSpans: Array<{ resource: { attributes: unknown[] } }> };
  if (version !== null) request.resourceSpans[0]!.resource.attributes.push({ key: 'service.version', value: { stringValue: version } });
  await postTraces(meshlens.otlpHttpUrl, JSON.stringify(request));
}

/**
 * productpage → details (plaintext), productpage → reviews v1/v2/v3 (mTLS; 12/8/4 calls), reviews v2/v3 →
 * ratings, ratings → a MySQL database; half of reviews-v3's calls fail.
 */
async function seedBookinfo(): Promise<void> {
  const versions = ['v1', 'v1', 'v1', 'v2', 'v2', 'v3'];
  const traces = Array.from({ length: 24 }, (_, i) => i + 1);
  const page: HandSpan[] = [];
  const details: HandSpan[] = [];
  const reviews = new Map<string, HandSpan[]>([['v1', []], ['v2', []], ['v3', []]]);
  const ratings: HandSpan[] = [];
  for (const t of traces) {
    const id = t * 100;
    const start = t * 500;
    const version = versions[t % versions.length]!;
    const secure = { connection_security_policy: 'mutual_tls' };
    page.push(
      { trace: t, id: id + 1, kind: SERVER, startMs: start, durationMs: 60 },
      { trace: t, id: id + 2, parent: id + 1, kind: CLIENT, startMs: start + 1, durationMs: 8, attributes: { connection_security_policy: 'none' } },
      { trace: t, id: id + 4, parent: id + 1, kind: CLIENT, startMs: start + 10, durationMs: 40, attributes: secure },
    );
    details.push({ trace: t, id: id + 3, parent: id + 2, kind: SERVER, startMs: start + 2, durationMs: 6, attributes: { connection_security_policy: 'none' } });
    const fails = version === 'v3' && t % 4 === 1;
    reviews.get(version)!.push({ trace: t, id: id + 5, parent: id + 4, kind: SERVER, startMs: start + 11, durationMs: 35, attributes: { ...secure, 'http.response.status_code': fails ? 503 : 200 }, ...(fails ? { code: 2 } : {}) });
    if (version !== 'v1') {
      reviews.get(version)!.push({ trace: t, id: id + 6, parent: id + 5, kind: CLIENT, startMs: start + 12, durationMs: 20, attributes: secure });
      ratings.push(
        { trace: t, id: id + 7, parent: id + 6, kind: SERVER, startMs: start + 13, durationMs: 18, attributes: secure },
        { trace: t, id: id + 8, parent: id + 7, kind: CLIENT, startMs: start + 14, durationMs: 5, attributes: { 'db.system': 'mysql', 'db.namespace': 'ratings-db' } },
      );
    }
  }
  // All at once: halves that wait longer than graph.wait for their partner would be drawn from 'unknown'.
  await Promise.all([send('productpage', 'v1', page), send('details', 'v1', details), ...[...reviews].map(([version, spans]) => send('reviews', version, spans)), send('ratings', 'v1', ratings)]);
}

const EXPECTED_EDGES = ['bookinfo/details@v1', 'bookinfo/reviews@v1', 'bookinfo/reviews@v2', 'bookinfo/reviews@v3']
  .map((target) => `bookinfo/productpage@v1->${target}`)
  .concat(['bookinfo/ratings@v1->ratings-db', 'bookinfo/reviews@v2->bookinfo/ratings@v1', 'bookinfo/reviews@v3->bookinfo/ratings@v1', 'unknown->bookinfo/productpage@v1'])
  .sort();

async function apiGraph(query = ''): Promise<Graph> {
  return (await getJson<Graph>(`${meshlens.queryUrl}/api/v1/service-graph?start=${Date.now() - 900_000}${query}`)).body;
}

async function openGraph(path: string): Promise<Page> {
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  await page.goto(`${meshlens.queryUrl}${path}`);
  await page.waitForSelector('.graph-stage[data-state="ready"], .graph-stage[data-state="empty"], .graph-stage[data-state="error"]');
  assert.deepEqual(problems, [], 'no script errors on the page');
  return page;
}

const listed = (page: Page, attribute: string) => page.$$eval(`[${attribute}]`, (elements, name) => elements.map((e) => e.getAttribute(name)!).sort(), attribute);

describe('web UI: traffic graph', { skip }, () => {
  before(async () => {
    await ensureUiBuilt({ quiet: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    meshlens = await startTestMeshlens({ overrides: { 'graph.wait': '2s', 'graph.flush_interval': '300ms' } });
    await seedBookinfo();
    // Paired edges come at the next flush; the root's edge from 'unknown' once graph.wait has passed.
    for (let i = 0; i < 100; i++) {
      const graph = await apiGraph();
      if (graph.edges.map((e) => e.id).sort().join() === EXPECTED_EDGES.join()) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    profileDir = mkdtempSync(join(tmpdir(), 'meshlens-chromium-'));
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1400, height: 860 },
      colorScheme: 'light',
    });
  });
  after(async () => {
    await context?.close();
    await meshlens?.destroy();
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  });

  it('draws exactly the nodes and edges the API answers, with the canary split and mTLS marks', async () => {
    const api = await apiGraph();
    assert.deepEqual(api.edges.map((e) => e.id).sort(), EXPECTED_EDGES, 'the seeded mesh is what the API serves');
    // The query port serves the app at / and still answers unknown API paths as JSON 404s.
    const index = await fetch(`${meshlens.queryUrl}/`);
    assert.equal(index.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.match(await index.text(), /<script type="module"[^>]+src="\.\/assets\/index-[\w-]+\.js"/);
    const unknownApi = await fetch(`${meshlens.queryUrl}/api/v1/nope`);
    assert.equal(unknownApi.status, 404);
    assert.deepEqual(await unknownApi.json(), { error: 'no such endpoint: GET /api/v1/nope' });

    const page = await openGraph('/');
    assert.equal(await page.getAttribute('.graph-stage', 'data-state'), 'ready');
    assert.deepEqual(await listed(page, 'data-node-id'), api.nodes.map((n) => n.id).sort());
    assert.deepEqual(await listed(page, 'data-edge-id'), [...new Set(api.edges.map((e) => e.id))].sort());

    // The canary: reviews' versions form one group whose shares are their requests over the service's.
    const reviews = api.nodes.filter((n) => n.name === 'reviews');
    const total = reviews.reduce((sum, n) => sum + n.requests, 0);
    for (const node of reviews) {
      const share = Number(await page.getAttribute(`[data-node-id="${node.id}"]`, 'data-version-share'));
      assert.ok(Math.abs(share - node.requests / total) < 1e-9, `${node.id}: share ${share}`);
    }
    assert.equal(await page.getAttribute('[data-node-id="ratings-db"]', 'data-kind'), 'database');
    assert.equal(await page.getAttribute('[data-node-id="unknown"]', 'data-kind'), 'unknown');
    for (const edge of api.edges) {
      const expected = edge.mtls === true ? 'all' : edge.mtls === false ? 'none' : 'unknown';
      assert.equal(await page.getAttribute(`[data-edge-id="${edge.id}"]`, 'data-mtls'), expected, edge.id);
    }
    assert.equal(await page.getAttribute('[data-edge-id="bookinfo/productpage@v1->bookinfo/reviews@v1"]', 'data-mtls'), 'all');
    assert.equal(await page.getAttribute('[data-edge-id="bookinfo/productpage@v1->bookinfo/details@v1"]', 'data-mtls'), 'none');

    // Something was drawn: the canvas is far from one flat colour.
    // (Page-side code as strings: the test's own TypeScript has no DOM types.)
    const distinctColours = await page.evaluate<number>(`(() => {
      const canvas = document.querySelector('canvas');
      const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      const colours = new Set();
      for (let i = 0; i < data.length; i += 4 * 97) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
      return colours.size;
    })()`);
    assert.ok(distinctColours > 20, `the canvas shows a drawing (${distinctColours} colours)`);
    await page.screenshot({ path: join(ARTIFACTS, 'graph-light.png') });
    await page.close();
  });

  it('selects a clicked node in the URL, shows its numbers, and a reload of that URL restores it', async () => {
    const api = await apiGraph();
    const target = api.nodes.find((n) => n.id === 'bookinfo/reviews@v3')!;
    const page = await openGraph('/');
    await page.waitForSelector('canvas[data-zoom]');
    const [tx, ty, k] = (await page.getAttribute('canvas', 'data-zoom'))!.split(',').map(Number) as [number, number, number];
    const x = Number(await page.getAttribute(`[data-node-id="${target.id}"]`, 'data-x'));
    const y = Number(await page.getAttribute(`[data-node-id="${target.id}"]`, 'data-y'));
    const box = (await page.locator('canvas').boundingBox())!;
    await page.mouse.move(box.x + tx + x * k, box.y + ty + y * k);
    await page.waitForSelector('.tooltip:not([hidden])');
    assert.match(await page.textContent('.tooltip') ?? '', /reviews v3/);
    await page.mouse.click(box.x + tx + x * k, box.y + ty + y * k);
    await page.waitForSelector(`[data-selected-node="${target.id}"]`);
    assert.equal(new URL(page.url()).searchParams.get('node'), target.id);
    const details = await page.textContent('aside.details');
    assert.match(details!, new RegExp(`requests${target.requests}`));
    assert.match(details!, new RegExp(`errors${target.errors} `));
    assert.equal(await page.getAttribute(`[data-node-id="${target.id}"]`, 'aria-pressed'), 'true');
    await page.screenshot({ path: join(ARTIFACTS, 'graph-selected.png') });

    await page.reload();
    await page.waitForSelector('.graph-stage[data-state="ready"]');
    await page.waitForSelector(`[data-selected-node="${target.id}"]`);
    assert.equal(await page.getAttribute(`[data-node-id="${target.id}"]`, 'aria-pressed'), 'true');

    // Focus via the panel narrows the drawing to the neighbourhood; Back returns to the whole graph.
    await page.click('aside.details button:has-text("Focus on neighbourhood")');
    await page.waitForFunction(`new URL(location.href).searchParams.get('focus') !== null`);
    assert.deepEqual(await listed(page, 'data-node-id'), ['bookinfo/productpage@v1', 'bookinfo/ratings@v1', 'bookinfo/reviews@v3']);
    await page.goBack();
    await page.waitForFunction(`document.querySelectorAll('[data-node-id]').length === ${api.nodes.length}`);
    await page.close();
  });

  it('opens a filtered, searched link as it was shared, and shows the empty state where there is no traffic', async () => {
    const page = await openGraph('/?range=1h&live=0&signal=spans&q=ratings');
    assert.equal(await page.inputValue('select[aria-label="Time range"]'), '1h');
    assert.equal(await page.inputValue('select[aria-label="Signal"]'), 'spans');
    assert.equal(await page.inputValue('input[type="search"]'), 'ratings');
    assert.equal(await page.getAttribute('button.live', 'aria-pressed'), 'false');
    await page.close();

    const empty = await openGraph('/?namespace=nowhere');
    assert.equal(await empty.getAttribute('.graph-stage', 'data-state'), 'empty');
    assert.match((await empty.textContent('.overlay'))!, /No traffic in this window.*4317.*4318.*widen the range/s);
    await empty.screenshot({ path: join(ARTIFACTS, 'graph-empty.png') });
    await empty.close();
  });

  it('refreshes by itself in live mode, and a new node leaves every other node where it was', async () => {
    const page = await openGraph('/?refresh=5');
    const positions = () => page.$$eval('[data-node-id]', (buttons) => buttons.map((b) => [b.getAttribute('data-node-id'), b.getAttribute('data-x'), b.getAttribute('data-y')].join(' ')));
    const before = await positions();
    // A fourth version of reviews starts taking traffic.
    await Promise.all([
      send('productpage', 'v1', [
        { trace: 900, id: 90_001, kind: SERVER, startMs: 20_000, durationMs: 30 },
        { trace: 900, id: 90_002, parent: 90_001, kind: CLIENT, startMs: 20_001, durationMs: 20 },
      ]),
      send('reviews', 'v4', [{ trace: 900, id: 90_003, parent: 90_002, kind: SERVER, startMs: 20_002, durationMs: 18 }]),
    ]);
    await page.waitForSelector('[data-node-id="bookinfo/reviews@v4"]', { timeout: 20_000 });
    const after = new Set(await positions());
    for (const line of before) assert.ok(after.has(line), `moved on refresh: ${line}`);
    const v4 = await page.getAttribute('[data-node-id="bookinfo/reviews@v4"]', 'data-version-share');
    assert.ok(Number(v4) > 0 && Number(v4) < 0.1, `reviews v4 takes its small share (${v4})`);
    await page.screenshot({ path: join(ARTIFACTS, 'graph-refreshed.png') });
    await page.close();
  });

  it('applies the dark theme from the system preference and from the toggle', async () => {
    const page = await openGraph('/');
    const bodyBackground = 'getComputedStyle(document.body).backgroundColor';
    const background = () => page.evaluate<string>(bodyBackground);
    assert.equal(await background(), 'rgb(246, 247, 249)');
    await page.click('button.theme-toggle');
    assert.equal(await page.getAttribute('html', 'data-theme'), 'dark');
    assert.equal(await background(), 'rgb(15, 20, 27)');
    await page.click('button.theme-toggle');
    assert.equal(await background(), 'rgb(246, 247, 249)');
    await page.evaluate('localStorage.clear()');
    await page.close();

    const dark = await context.newPage();
    await dark.emulateMedia({ colorScheme: 'dark' });
    await dark.goto(`${meshlens.queryUrl}/`);
    await dark.waitForSelector('.graph-stage[data-state="ready"]');
    assert.equal(await dark.evaluate<string>('getComputedStyle(document.body).backgroundColor'), 'rgb(15, 20, 27)');
    await dark.screenshot({ path: join(ARTIFACTS, 'graph-dark.png') });
    await dark.close();
  });

  // Last: it stops meshlens.
  it('says what happened and what to do when meshlens stops answering', async () => {
    const page = await openGraph('/');
    await meshlens.stop();
    await page.selectOption('select[aria-label="Signal"]', 'spans');
    await page.waitForSelector('.graph-stage[data-state="error"]');
    const message = (await page.textContent('.overlay [role="alert"]'))!;
    assert.match(message, /cannot reach meshlens at 127\.0\.0\.1:\d+/);
    assert.match(message, /Check that meshlens is running \(npm start\)/);
    assert.ok(await page.isVisible('.overlay button:has-text("Retry")'));
    await page.screenshot({ path: join(ARTIFACTS, 'graph-error.png') });
    await page.close();
  });
});
