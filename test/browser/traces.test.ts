// The trace explorer in a real Chromium against a real meshlens fed through its OTLP receiver: a search
// for a service lists exactly the traces the Jaeger API returns for it, opening one shows all its spans with
// the expected critical path, a deep link by trace id reopens it, and a 10,000-span trace opens in < 1 s.
// Screenshots go to test-artifacts/traces-*.png (look at them after a UI change).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { ensureUiBuilt } from '../../bin/build-ui.ts';
import { ARTIFACTS, type TestBrowser, launchBrowser, openPage, skipWithoutChromium } from '../helpers/browser.ts';
import { getJson, startTestMeshlens, type TestMeshlens } from '../helpers/meshlens.ts';
import { type HandSpan, SPAN_KIND, otlpJsonRequest, postTraces } from '../helpers/otlp-json.ts';

let meshlens: TestMeshlens;
let browser: TestBrowser;

const { server: SERVER, client: CLIENT, internal: INTERNAL } = SPAN_KIND;
const ms = 1_000_000n;
const base = BigInt(Date.now() - 120_000) * ms;
const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');

interface JaegerTraceBody {
  traceID: string;
  spans: Array<{ spanID: string }>;
}

const SEARCH_READY = '.ts-main[data-state="ready"], .ts-main[data-state="empty"], .ts-main[data-state="error"]';
const TRACE_READY = '.trace-view[data-state="ready"], .trace-view[data-state="error"], .trace-view[data-state="empty"]';

/**
 * Trace 0x7001, checkout's shop request (times in ms): root 1 (0–100) calls payments (2→3, 5–25) and
 * inventory (4→5, 30–90; 5 fails, with internal 6 at 40–50 and 7 at 60–85), then 8 (92–96); 9 (10–20) runs
 * beside the payment call. Critical path: every span but 9 (it ends after the walk has moved to 5 ms).
 */
const SHOP_TRACE = 0x7001;
const SHOP_CRITICAL = [1, 2, 3, 4, 5, 6, 7, 8].map((id) => hex(0x700100 + id, 16)).sort();

async function seedSearchTraces(): Promise<void> {
  const id = (n: number) => 0x700100 + n;
  const t = SHOP_TRACE;
  const checkout: HandSpan[] = [
    { trace: t, id: id(1), kind: SERVER, startMs: 0, durationMs: 100 },
    { trace: t, id: id(2), parent: id(1), kind: CLIENT, startMs: 5, durationMs: 20 },
    { trace: t, id: id(4), parent: id(1), kind: CLIENT, startMs: 30, durationMs: 60 },
    { trace: t, id: id(8), parent: id(1), kind: INTERNAL, startMs: 92, durationMs: 4 },
    { trace: t, id: id(9), parent: id(1), kind: INTERNAL, startMs: 10, durationMs: 10 },
  ];
  const payments: HandSpan[] = [{ trace: t, id: id(3), parent: id(2), kind: SERVER, startMs: 6, durationMs: 18, attributes: { 'payment.method': 'card' } }];
  const inventory: HandSpan[] = [
    { trace: t, id: id(5), parent: id(4), kind: SERVER, startMs: 32, durationMs: 56, code: 2 },
    { trace: t, id: id(6), parent: id(5), kind: INTERNAL, startMs: 40, durationMs: 10 },
    { trace: t, id: id(7), parent: id(5), kind: INTERNAL, startMs: 60, durationMs: 25 },
  ];
  // Four more checkout traces (one slow) and two of another service that a checkout search must not list.
  for (let n = 1; n <= 4; n++) {
    const trace = 0x7100 + n;
    checkout.push({ trace, id: trace * 16 + 1, kind: SERVER, startMs: n * 1000, durationMs: n === 4 ? 400 : 20 + n }, { trace, id: trace * 16 + 2, parent: trace * 16 + 1, kind: CLIENT, startMs: n * 1000 + 2, durationMs: 10 });
    payments.push({ trace, id: trace * 16 + 3, parent: trace * 16 + 2, kind: SERVER, startMs: n * 1000 + 3, durationMs: 8 });
  }
  const other: HandSpan[] = [0x7201, 0x7202].map((trace) => ({ trace, id: trace * 16 + 1, kind: SERVER, startMs: 3000, durationMs: 15 }));
  await Promise.all([
    postTraces(meshlens.otlpHttpUrl, otlpJsonRequest('checkout', 'shop', base, checkout)),
    postTraces(meshlens.otlpHttpUrl, otlpJsonRequest('payments', 'shop', base, payments)),
    postTraces(meshlens.otlpHttpUrl, otlpJsonRequest('inventory', 'shop', base, inventory)),
    postTraces(meshlens.otlpHttpUrl, otlpJsonRequest('reporting', 'shop', base, other)),
  ]);
}

/** A 10,000-span trace over six services: a 4-ary call tree, each child inside its parent's time. */
const BIG_TRACE = 'b16'.padStart(32, '0');
const BIG_SPANS = 10_000;
async function seedBigTrace(): Promise<void> {
  const bounds: Array<[bigint, bigint]> = [];
  const byService = new Map<string, unknown[]>();
  const rootStart = base + 5_000n * ms;
  for (let i = 0; i < BIG_SPANS; i++) {
    const parent = i === 0 ? -1 : Math.floor((i - 1) / 4);
    let start = rootStart;
    let end = rootStart + 2_000n * ms;
    if (parent >= 0) {
      const [ps, pe] = bounds[parent]!;
      const slot = BigInt((i - 1) % 4);
      const quarter = (pe - ps) / 4n;
      start = ps + slot * quarter + quarter / 20n;
      end = start + (quarter * 9n) / 10n;
    }
    bounds.push([start, end]);
    const depth = Math.floor(Math.log(3 * i + 1) / Math.log(4));
    const service = `bulk-${depth % 6}`;
    const spans = byService.get(service) ?? [];
    byService.set(service, spans);
    spans.push({
      traceId: BIG_TRACE,
      spanId: hex(0x100000 + i, 16),
      ...(parent >= 0 ? { parentSpanId: hex(0x100000 + parent, 16) } : {}),
      name: `step ${i % 7}`,
      kind: i === 0 ? SERVER : INTERNAL,
      startTimeUnixNano: String(start),
      endTimeUnixNano: String(end),
      attributes: [{ key: 'work.index', value: { intValue: i } }],
    });
  }
  const body = {
    resourceSpans: [...byService].map(([service, spans]) => ({
      resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
      scopeSpans: [{ spans }],
    })),
  };
  await postTraces(meshlens.otlpHttpUrl, JSON.stringify(body));
}

async function apiTrace(id: string): Promise<JaegerTraceBody | null> {
  const { status, body } = await getJson<{ data: JaegerTraceBody[] | null }>(`${meshlens.queryUrl}/api/traces/${id}`);
  return status === 200 ? body.data![0]! : null;
}

async function until<T>(what: string, probe: () => Promise<T | null>, ok: (value: T) => boolean): Promise<T> {
  for (let i = 0; i < 150; i++) {
    const value = await probe();
    if (value !== null && ok(value)) return value;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const renderedSpanIds = (page: Page) => page.$$eval('.wf-row[data-span-id]', (rows) => rows.map((row) => row.getAttribute('data-span-id')!).sort());
const criticalSpanIds = (page: Page) => page.$$eval('.wf-row[data-critical="true"]', (rows) => rows.map((row) => row.getAttribute('data-span-id')!).sort());

describe('web UI: trace explorer', { skip: skipWithoutChromium }, () => {
  before(async () => {
    await ensureUiBuilt({ quiet: true });
    meshlens = await startTestMeshlens();
    await Promise.all([seedSearchTraces(), seedBigTrace()]);
    await until('the shop trace', () => apiTrace(hex(SHOP_TRACE, 32)), (trace) => trace.spans.length === 9);
    await until('the 10,000-span trace', () => apiTrace(BIG_TRACE), (trace) => trace.spans.length === BIG_SPANS);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await meshlens?.destroy();
  });

  it('lists exactly the traces the API returns for a service, with a dot per trace', async () => {
    const page = await openPage(browser.context, `${meshlens.queryUrl}/?view=traces&service=checkout&range=1h`, SEARCH_READY);
    assert.equal(await page.getAttribute('.ts-main', 'data-state'), 'ready');
    const now = Date.now();
    const api = (await getJson<{ data: JaegerTraceBody[] }>(`${meshlens.queryUrl}/api/traces?service=checkout&start=${(now - 3_600_000) * 1000}&end=${now * 1000}&limit=20`)).body.data;
    assert.equal(api.length, 5, 'the five checkout traces');
    const listed = await page.$$eval('.ts-result', (links) => links.map((a) => a.getAttribute('data-trace-id')!).sort());
    assert.deepEqual(listed, api.map((t) => t.traceID).sort());
    const dots = await page.$$eval('.ts-plot circle.dot', (circles) => circles.map((c) => c.getAttribute('data-trace-id')!).sort());
    assert.deepEqual(dots, listed);
    // The form shows the search it ran; the list line of the shop trace says what it is.
    assert.equal(await page.inputValue('#ts-service'), 'checkout');
    assert.equal(await page.inputValue('#ts-range'), '1h');
    const shopLine = (await page.textContent(`.ts-result[data-trace-id="${hex(SHOP_TRACE, 32)}"]`))!;
    assert.match(shopLine, /checkout: checkout op/);
    assert.match(shopLine, /100ms/);
    assert.match(shopLine, /9 spans/);
    assert.match(shopLine, /1 error/);
    assert.match(shopLine, /checkout 5.*inventory 3.*payments 1/);
    await page.screenshot({ path: join(ARTIFACTS, 'traces-search.png') });

    // A duration filter from the form narrows to the slow trace, through the URL.
    await page.fill('#ts-min', '300ms');
    await page.click('button:has-text("Find traces")');
    await page.waitForFunction(`new URL(location.href).searchParams.get('minDuration') === '300ms' && document.querySelectorAll('.ts-result').length === 1`);
    assert.deepEqual(await page.$$eval('.ts-result', (links) => links.map((a) => a.getAttribute('data-trace-id'))), [hex(0x7104, 32)]);
    // A search that finds nothing says what to do.
    await page.selectOption('#ts-service', 'reporting');
    await page.fill('#ts-tags', 'no.such=tag');
    await page.click('button:has-text("Find traces")');
    await page.waitForSelector('.ts-main[data-state="empty"]');
    assert.match((await page.textContent('.ts-message'))!, /No traces match this search.*Widen the time range.*4317/s);
    await page.close();
  });

  it('opens a result with all its spans, the critical path and its service graph; a deep link reopens it', async () => {
    const page = await openPage(browser.context, `${meshlens.queryUrl}/?view=traces&service=checkout&range=1h`, SEARCH_READY);
    const shopId = hex(SHOP_TRACE, 32);
    await page.click(`.ts-plot circle[data-trace-id="${shopId}"]`);
    await page.waitForSelector('.trace-view[data-state="ready"]');
    assert.equal(new URL(page.url()).searchParams.get('view'), 'trace');
    assert.equal(new URL(page.url()).searchParams.get('trace'), shopId);
    const api = (await apiTrace(shopId))!;
    assert.deepEqual(await renderedSpanIds(page), api.spans.map((s) => s.spanID).sort());
    assert.equal(await page.getAttribute('[data-span-total]', 'data-span-total'), '9');
    assert.deepEqual(await criticalSpanIds(page), SHOP_CRITICAL);
    // The trace's own graph: checkout calls payments and inventory once each; the inventory call failed.
    const edges = await page.$$eval('.tv-graph-svg path.edge', (paths) => paths.map((p) => `${p.getAttribute('data-edge')} ${p.getAttribute('data-calls')} ${p.getAttribute('class')}`).sort());
    assert.deepEqual(edges, ['checkout->inventory 1 edge error', 'checkout->payments 1 edge']);

    // Clicking a row shows its details, in the URL.
    const paymentSpan = hex(0x700103, 16);
    await page.click(`.wf-row[data-span-id="${paymentSpan}"]`);
    await page.waitForSelector(`[data-selected-span="${paymentSpan}"]`);
    assert.equal(new URL(page.url()).searchParams.get('span'), paymentSpan);
    const details = (await page.textContent('.tv-details'))!;
    assert.match(details, /payment\.methodcard/);
    assert.match(details, /Resource \(payments\)/);
    assert.match(details, /k8s\.namespace\.nameshop/);
    await page.screenshot({ path: join(ARTIFACTS, 'traces-trace.png') });

    // Keyboard: Enter on the root collapses it, ArrowRight expands it again.
    await page.focus('.wf-row[data-index="0"]');
    await page.keyboard.press('Enter');
    await page.waitForFunction(`document.querySelectorAll('.wf-row').length === 1`);
    assert.equal(await page.getAttribute('.wf-row[data-index="0"]', 'aria-expanded'), 'false');
    await page.keyboard.press('ArrowRight');
    await page.waitForFunction(`document.querySelectorAll('.wf-row').length === 9`);
    await page.keyboard.press('ArrowDown');
    assert.equal(await page.evaluate<string>(`document.activeElement.getAttribute('data-index')`), '1');

    // The link as shared: the same trace, the same span selected.
    const link = page.url();
    await page.close();
    const again = await openPage(browser.context, link, TRACE_READY);
    assert.equal(await again.getAttribute('.trace-view', 'data-state'), 'ready');
    assert.deepEqual(await renderedSpanIds(again), api.spans.map((s) => s.spanID).sort());
    assert.deepEqual(await criticalSpanIds(again), SHOP_CRITICAL);
    // Enter on the root selected it, so the link carries the root.
    assert.equal(new URL(link).searchParams.get('span'), hex(0x700101, 16));
    await again.waitForSelector(`[data-selected-span="${hex(0x700101, 16)}"]`);
    await again.emulateMedia({ colorScheme: 'dark' });
    assert.equal(await again.evaluate<string>('getComputedStyle(document.body).backgroundColor'), 'rgb(15, 20, 27)');
    await again.screenshot({ path: join(ARTIFACTS, 'traces-trace-dark.png') });
    // Back to the search it came from.
    await again.click('.tv-back');
    await again.waitForSelector('.ts-main[data-state="ready"]');
    assert.equal(await again.inputValue('#ts-service'), 'checkout');
    await again.screenshot({ path: join(ARTIFACTS, 'traces-search-dark.png') });
    await again.close();
  });

  it('opens the 10,000-span trace in under a second, rendering only the visible rows', async () => {
    const page = await openPage(browser.context, `${meshlens.queryUrl}/?view=traces&service=bulk-0&range=1h`, SEARCH_READY);
    await page.click(`.ts-result[data-trace-id="${BIG_TRACE}"]`);
    await page.waitForSelector('.trace-view[data-open-ms]');
    const openMs = Number(await page.getAttribute('.trace-view', 'data-open-ms'));
    console.log(`# 10,000-span trace: opened in ${openMs} ms (${await page.getAttribute('.trace-view', 'data-timings')}; first rows painted)`);
    assert.ok(openMs < 1000, `opened in ${openMs} ms`);
    assert.equal(await page.getAttribute('[data-span-total]', 'data-span-total'), String(BIG_SPANS));
    const rendered = await page.$$eval('.wf-row', (rows) => rows.length);
    assert.ok(rendered > 10 && rendered < 100, `${rendered} rows in the DOM`);
    // The critical path goes down the last child at every level: root → 4 → 20 → … one span per depth.
    const critical = await criticalSpanIds(page);
    assert.ok(critical.includes(hex(0x100000, 16)), 'the root is on the critical path');
    await page.screenshot({ path: join(ARTIFACTS, 'traces-10k.png') });
    // The last span is reachable: End moves the focus to the last row.
    await page.focus('.wf-row[data-index="0"]');
    await page.keyboard.press('End');
    await page.waitForFunction(`document.activeElement?.getAttribute('data-index') === '${BIG_SPANS - 1}'`);

    // And from a deep link in a fresh page, which has to fetch the trace: reported, with the API's own time
    // for the same trace (the machine's load decides most of it).
    const apiStarted = performance.now();
    await apiTrace(BIG_TRACE);
    console.log(`# GET /api/traces/<10,000 spans> from node: ${Math.round(performance.now() - apiStarted)} ms`);
    const deep = await browser.context.newPage();
    await deep.goto(`${meshlens.queryUrl}/?view=trace&trace=${BIG_TRACE}`);
    await deep.waitForSelector('.trace-view[data-open-ms]');
    const fromNavigation = await deep.evaluate<number>('performance.now()');
    console.log(`# 10,000-span trace by deep link: ${Math.round(fromNavigation)} ms from navigation start; the view's part ${await deep.getAttribute('.trace-view', 'data-open-ms')} ms (${await deep.getAttribute('.trace-view', 'data-timings')})`);
    assert.equal(await deep.getAttribute('[data-span-total]', 'data-span-total'), String(BIG_SPANS));
    await deep.close();
    await page.close();
  });

  it('says what to do for a trace id that is not stored', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${meshlens.queryUrl}/?view=trace&trace=${'dead'.padStart(32, '0')}`);
    await page.waitForSelector('.trace-view[data-state="error"]');
    assert.match((await page.textContent('.tv-message'))!, /no trace 0+dead in storage.*retention.*search for it/s);
    await page.screenshot({ path: join(ARTIFACTS, 'traces-missing.png') });
    await page.close();
  });
});
