// The side panel and the timeline scrubber in a real Chromium against a real meshlens fed, over OTLP, four
// minutes of productpage → reviews / details traffic that changes minute by minute (6, 0, 10 and 3 calls to
// reviews; 2 of the 10 fail; slower in minute 3). A click on a node opens charts whose totals and p95 are the
// API's for the window, the heatmap has the API's cells and a click on one gives a trace-search link with its
// time and duration range, and the scrubber's frames show the API's answer for each sub-window without moving
// any node. Screenshots: test-artifacts/side-panel-*.png and scrubber-*.png.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { ensureUiBuilt } from '../../bin/build-ui.ts';
import type { GraphEdge, GraphNode } from '../../query/service-graph.ts';
import { ARTIFACTS, type TestBrowser, launchBrowser, openPage, skipWithoutChromium } from '../helpers/browser.ts';
import { getJson, startTestMeshlens, type TestMeshlens } from '../helpers/meshlens.ts';
import { type HandSpan, SPAN_KIND, otlpJsonRequest, postTraces } from '../helpers/otlp-json.ts';

type Graph = { nodes: GraphNode[]; edges: GraphEdge[] };
type Red = { times: number[]; step: number; requests: number[]; errors: number[] };
type Latency = { count: number; p95Ms: number | null };
type Heatmap = { times: number[]; bucketsLeMs: Array<number | null>; counts: number[][] };

let meshlens: TestMeshlens;
let browser: TestBrowser;

const { server: SERVER, client: CLIENT } = SPAN_KIND;
/** The first of the four seeded minutes (a minute boundary, six minutes ago). */
const M0 = Math.floor((Date.now() - 6 * 60_000) / 60_000) * 60_000;
const WINDOW = `from=${M0}&to=${M0 + 4 * 60_000}`;
const REVIEWS = 'bookinfo/reviews@v1';
const CALLS_PER_MINUTE = [6, 0, 10, 3];

/** One service in bookinfo sending its spans; operations alternate between two names. */
async function send(service: string, spans: HandSpan[], operations: string[]): Promise<void> {
  const request = JSON.parse(otlpJsonRequest(service, 'bookinfo', BigInt(M0) * 1_000_000n, spans)) as {
    resourceSpans: Array<{ resource: { attributes: unknown[] }; scopeSpans: Array<{ spans: Array<{ name: string }> }> }>;
  };
  request.resourceSpans[0]!.resource.attributes.push({ key: 'service.version', value: { stringValue: 'v1' } });
  request.resourceSpans[0]!.scopeSpans[0]!.spans.forEach((span, i) => (span.name = operations[i % operations.length]!));
  await postTraces(meshlens.otlpHttpUrl, JSON.stringify(request));
}

async function seed(): Promise<void> {
  const page: HandSpan[] = [];
  const reviews: HandSpan[] = [];
  const details: HandSpan[] = [];
  let trace = 0;
  CALLS_PER_MINUTE.forEach((calls, minute) => {
    for (let i = 0; i < calls + 2; i++) {
      trace++;
      const id = trace * 10;
      const start = minute * 60_000 + 2_000 + i * 700;
      page.push({ trace, id: id + 1, kind: SERVER, startMs: start, durationMs: 200 });
      if (i < 2) {
        // Two calls to details every minute.
        page.push({ trace, id: id + 2, parent: id + 1, kind: CLIENT, startMs: start + 1, durationMs: 6 });
        details.push({ trace, id: id + 3, parent: id + 2, kind: SERVER, startMs: start + 2, durationMs: 4 });
        continue;
      }
      const duration = minute === 3 ? 140 : minute === 2 && i % 3 === 0 ? 90 : 30;
      const fails = minute === 2 && i < 4;
      page.push({ trace, id: id + 4, parent: id + 1, kind: CLIENT, startMs: start + 10, durationMs: duration + 2 });
      reviews.push({ trace, id: id + 5, parent: id + 4, kind: SERVER, startMs: start + 11, durationMs: duration, attributes: { 'http.response.status_code': fails ? 503 : 200 }, ...(fails ? { code: 2 } : {}) });
    }
  });
  // All at once: halves that wait longer than graph.wait for their partner would be drawn from 'unknown'.
  await Promise.all([send('productpage', page, ['GET /productpage']), send('reviews', reviews, ['GET /reviews/{id}', 'GET /reviews/{id}', 'GET /health']), send('details', details, ['GET /details/{id}'])]);
}

async function api<T>(path: string): Promise<T> {
  return (await getJson<T>(`${meshlens.queryUrl}${path}`)).body;
}

const readData = (page: Page, selector: string, name: string) => page.getAttribute(selector, `data-${name}`).then((v) => v ?? '');

/** Clicks a node on the canvas where the page says it drew it. */
async function clickNode(page: Page, id: string): Promise<void> {
  await page.waitForSelector('canvas[data-zoom]');
  const [tx, ty, k] = (await page.getAttribute('canvas', 'data-zoom'))!.split(',').map(Number) as [number, number, number];
  const x = Number(await page.getAttribute(`[data-node-id="${id}"]`, 'data-x'));
  const y = Number(await page.getAttribute(`[data-node-id="${id}"]`, 'data-y'));
  const box = (await page.locator('canvas').boundingBox())!;
  await page.mouse.click(box.x + tx + x * k, box.y + ty + y * k);
}

describe('web UI: side panel and timeline scrubber', { skip: skipWithoutChromium }, () => {
  before(async () => {
    await ensureUiBuilt({ quiet: true });
    meshlens = await startTestMeshlens({ overrides: { 'graph.wait': '2s', 'graph.flush_interval': '300ms' } });
    await seed();
    // Paired edges come at the next flush; the root's edge from 'unknown' once graph.wait has passed.
    for (let i = 0; i < 100; i++) {
      const graph = await api<Graph>(`/api/v1/service-graph?start=${M0}&end=${M0 + 4 * 60_000}`);
      const reviews = graph.nodes.find((n) => n.id === REVIEWS);
      if (graph.edges.length === 3 && reviews?.requests === 19) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await meshlens?.destroy();
  });

  it("opens a clicked node's charts with the API's totals and p95 for the window, and its top operations", async () => {
    const page = await openPage(browser.context, `${meshlens.queryUrl}/?${WINDOW}`);
    await clickNode(page, REVIEWS);
    await page.waitForSelector(`[data-selected-node="${REVIEWS}"]`);
    await page.waitForSelector('.side-panel[data-state="ready"]');
    const panel = '.side-panel';
    const [start, end, step] = await Promise.all(['start', 'end', 'step'].map((name) => readData(page, panel, name)));
    assert.deepEqual([Number(start), Number(end)], [M0, M0 + 4 * 60_000], 'the panel covers the graph window');
    const selector = `service=${encodeURIComponent(REVIEWS)}&start=${start}&end=${end}`;
    const red = await api<Red>(`/api/v1/red?${selector}&step=${step}s`);
    const latency = await api<Latency>(`/api/v1/latency?${selector}`);
    const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
    assert.equal(sum(red.requests), 19, 'the seeded calls to reviews');
    assert.equal(sum(red.errors), 2);
    assert.equal(Number(await readData(page, panel, 'requests')), sum(red.requests));
    assert.equal(Number(await readData(page, panel, 'errors')), sum(red.errors));
    assert.equal(Number(await readData(page, panel, 'p95')), latency.p95Ms);
    assert.ok(latency.p95Ms !== null && latency.p95Ms > 90, `p95 ${latency.p95Ms} lies among the slow minute's calls`);
    // The same numbers as the graph's node for that window.
    const graph = await api<Graph>(`/api/v1/service-graph?start=${start}&end=${end}`);
    assert.equal(graph.nodes.find((n) => n.id === REVIEWS)!.requests, sum(red.requests));
    assert.match((await page.textContent('.panel-totals'))!, /19 requests.*2 errors.*p95/);

    // One bar per slot, the requests chart's readout names a slot's count.
    assert.equal(await page.locator('.bars.requests rect').count(), red.times.length);
    const operations = await api<{ operations: Array<{ name: string; requests: number }> }>(`/api/v1/operations?service=${encodeURIComponent(REVIEWS)}&start=${start}&end=${end}&limit=8`);
    assert.deepEqual(await page.$$eval('table.operations tbody tr', (rows) => rows.map((r) => r.getAttribute('data-operation'))), operations.operations.map((o) => o.name));
    assert.deepEqual(operations.operations.map((o) => o.name).sort(), ['GET /health', 'GET /reviews/{id}']);

    // Keyboard: the latency chart takes focus and arrows move its cursor to a slot with calls.
    await page.focus('figure.latency svg');
    await page.keyboard.press('End');
    assert.match((await page.textContent('figure.latency .chart-readout'))!, /no calls|p95/);
    await page.screenshot({ path: join(ARTIFACTS, 'side-panel-node.png') });
    await page.close();
  });

  it("draws the API's heatmap cells, and a clicked cell links to the trace search for its time and duration range", async () => {
    const page = await openPage(browser.context, `${meshlens.queryUrl}/?${WINDOW}&node=${encodeURIComponent(REVIEWS)}`);
    await page.waitForSelector('.side-panel[data-state="ready"]');
    const [start, end, step] = await Promise.all(['start', 'end', 'step'].map((name) => readData(page, '.side-panel', name)));
    const heatmap = await api<Heatmap>(`/api/v1/latency/heatmap?service=${encodeURIComponent(REVIEWS)}&start=${start}&end=${end}&step=${step}s`);
    const nonEmpty = heatmap.counts.flat().filter((count) => count > 0).length;
    assert.ok(nonEmpty >= 3, `the API has cells (${nonEmpty})`);
    const cells = page.locator('svg.heatmap rect.cell');
    assert.equal(await cells.count(), nonEmpty, 'one drawn cell per slot and bucket with calls');

    // The slowest cell: minute 3's calls of 140 ms.
    const cellData = await cells.evaluateAll((rects) => rects.map((r) => ({ start: r.getAttribute('data-start')!, end: r.getAttribute('data-end')!, lower: r.getAttribute('data-lower-ms')!, upper: r.getAttribute('data-upper-ms')!, count: r.getAttribute('data-count')! })));
    const slowest = cellData.reduce((best, cell, i) => (Number(cell.lower) > Number(cellData[best]!.lower) ? i : best), 0);
    const cell = cellData[slowest]!;
    assert.deepEqual([Number(cell.start), Number(cell.lower), Number(cell.upper), Number(cell.count)], [M0 + 3 * 60_000, 100, 200, 3]);
    await cells.nth(slowest).click();
    const link = page.locator('figure.heatmap .chart-readout a.trace-link');
    await link.waitFor();
    const href = (await link.getAttribute('href'))!;
    const params = new URL(href, page.url()).searchParams;
    assert.deepEqual(Object.fromEntries(params), {
      view: 'traces',
      service: 'reviews',
      start: cell.start,
      end: cell.end,
      minDuration: `${cell.lower}ms`,
      maxDuration: `${cell.upper}ms`,
    });
    assert.match((await page.textContent('figure.heatmap .chart-readout'))!, /100 ms–200 ms: 3 calls/);
    await page.locator('aside.details').screenshot({ path: join(ARTIFACTS, 'side-panel-heatmap.png') });

    // A histogram bin links to the whole window with the bin's range.
    await page.focus('figure.histogram svg');
    await page.keyboard.press('End');
    await page.keyboard.press('ArrowLeft');
    const binLink = new URL((await page.getAttribute('figure.histogram .chart-readout a.trace-link', 'href'))!, page.url()).searchParams;
    assert.deepEqual([binLink.get('start'), binLink.get('end'), binLink.get('minDuration'), binLink.get('maxDuration')], [start, end, '100ms', '200ms']);
    await page.close();
  });

  it("replays the window frame by frame: each frame's edges are the API's for that minute, and nothing moves", async () => {
    // With reviews selected: its charts mark the replayed frame.
    const page = await openPage(browser.context, `${meshlens.queryUrl}/?${WINDOW}&node=${encodeURIComponent(REVIEWS)}`);
    const positions = () => page.$$eval('[data-node-id]', (buttons) => buttons.map((b) => [b.getAttribute('data-node-id'), b.getAttribute('data-x'), b.getAttribute('data-y')].join(' ')).sort());
    const before = await positions();
    await page.click('button:has-text("Replay this window")');
    await page.waitForSelector(`.graph-stage[data-frame="${M0}"]`);
    assert.equal(new URL(page.url()).searchParams.get('at'), String(M0));
    const seen: number[] = [];
    for (let frame = 0; frame < 4; frame++) {
      await page.waitForSelector(`.graph-stage[data-frame="${M0 + frame * 60_000}"]`);
      const frameStart = await readData(page, '.scrubber', 'frame-start');
      const frameEnd = await readData(page, '.scrubber', 'frame-end');
      assert.deepEqual([Number(frameStart), Number(frameEnd)], [M0 + frame * 60_000, M0 + (frame + 1) * 60_000 - 1]);
      const answer = await api<Graph>(`/api/v1/service-graph?start=${frameStart}&end=${frameEnd}`);
      const expected = new Map<string, number>();
      for (const edge of answer.edges) expected.set(edge.id, (expected.get(edge.id) ?? 0) + edge.requests);
      const drawn = await page.$$eval('[data-edge-id]', (buttons) => buttons.map((b) => [b.getAttribute('data-edge-id')!, Number(b.getAttribute('data-requests'))] as [string, number]));
      assert.deepEqual(new Map(drawn), expected, `frame ${frame}`);
      seen.push(expected.get(`bookinfo/productpage@v1->${REVIEWS}`) ?? 0);
      assert.deepEqual(await positions(), before, 'every node stays where the whole window put it');
      if (frame === 2) {
        await page.waitForSelector('svg.heatmap .frame-band');
        await page.screenshot({ path: join(ARTIFACTS, 'scrubber-frame.png') });
      }
      if (frame < 3) await page.click('button[aria-label="Next frame"]');
    }
    assert.deepEqual(seen, CALLS_PER_MINUTE, 'the frames replay the minutes as they were');
    assert.equal(await page.isDisabled('button[aria-label="Next frame"]'), true);

    // Play from the last frame starts over and runs to the end by itself, then stops.
    await page.click('button.play');
    await page.waitForSelector(`.graph-stage[data-frame="${M0}"]`);
    await page.waitForSelector(`.graph-stage[data-frame="${M0 + 3 * 60_000}"]`, { timeout: 15_000 });
    await page.waitForSelector('button.play[aria-pressed="false"]');
    // A reload of the link reopens the same frame; Exit replay returns to the whole window.
    await page.click('button[aria-label="Previous frame"]');
    await page.waitForSelector(`.graph-stage[data-frame="${M0 + 2 * 60_000}"]`);
    await page.reload();
    await page.waitForSelector(`.graph-stage[data-frame="${M0 + 2 * 60_000}"]`);
    await page.click('button:has-text("Exit replay")');
    await page.waitForFunction(`!document.querySelector('.graph-stage').dataset.frame`);
    assert.equal(await page.getAttribute(`[data-edge-id="bookinfo/productpage@v1->${REVIEWS}"]`, 'data-requests'), '19');
    await page.close();
  });

  it('says what to do when the selection served no calls', async () => {
    const page = await openPage(browser.context, `${meshlens.queryUrl}/?${WINDOW}&node=unknown`);
    await page.waitForSelector('.side-panel[data-state="empty"]');
    assert.match((await page.textContent('.side-panel'))!, /It served no calls in this window\..*select one of them/s);
    await page.close();
  });

  it('shows the panel in the dark theme', async () => {
    const page = await openPage(browser.context, `${meshlens.queryUrl}/?${WINDOW}&theme=dark&edge=${encodeURIComponent(`bookinfo/productpage@v1->${REVIEWS}`)}`);
    await page.waitForSelector('.side-panel[data-state="ready"]');
    assert.equal(await page.evaluate<string>('getComputedStyle(document.body).backgroundColor'), 'rgb(15, 20, 27)');
    await page.locator('svg.heatmap rect.cell').first().click();
    await page.screenshot({ path: join(ARTIFACTS, 'side-panel-dark.png') });
    await page.close();
  });
});
