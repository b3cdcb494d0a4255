// npm run bench:ui — the web UI in headless Chromium (Debian's /usr/bin/chromium via playwright-core, as the
// browser tests launch it) against a real meshlens started in this process on a temp data dir, fed only
// through its OTLP/HTTP receiver (real pairing, real edge rows, real trace storage):
//
//   1. a graph of 500 nodes and 2,000 edges: frames per second of the flow animation (requestAnimationFrame
//      counted in the page, plus the main thread's busy time from CDP Performance.getMetrics), target ≥ 30;
//   2. a live refresh after new traffic (and a new node) arrived: how far the existing nodes moved, target ~0;
//      and what each live refresh costs the page: the longest frame (and main-thread task) around it;
//   3. a trace of 10,000 spans: opened from the search list (click) and by deep link until the waterfall's
//      rows are painted, target < 1 s, with the deep link's /api/traces/{id} fetch from Resource Timing;
//   4. the built app's JavaScript gzipped, target ≤ 300 KB.
//
//   --nodes N --edges N     graph size (default 500 / 2,000)
//   --spans N               spans of the big trace (default 10,000)
//   --runs N                runs of each trace opening (default 5)
//   --seconds S             length of the fps measurement (default 5)
//   --refreshes N           live refreshes measured after the one that shows the new node (default 2)
//   --json FILE             where the figures go (default docs/bench-ui-latest.json; '' for none)
//   --profile               also print the page's top self-time functions while animating and opening
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import type { CDPSession, Page } from 'playwright-core';
import { ensureUiBuilt } from '../../bin/build-ui.ts';
import type { OtlpSpan } from '../../bin/demo.ts';
import type { GraphEdge, GraphNode } from '../../query/service-graph.ts';
import { launchBrowser, skipWithoutChromium } from '../helpers/browser.ts';
import { getJson, startTestMeshlens, type TestMeshlens } from '../helpers/meshlens.ts';
import { SPAN_KIND } from '../helpers/otlp-json.ts';
import { ROOT } from './harness.ts';
import { seededRandom as random } from '../helpers/random.ts';

const { values: opts } = parseArgs({
  options: {
    nodes: { type: 'string', default: '500' },
    edges: { type: 'string', default: '2000' },
    spans: { type: 'string', default: '10000' },
    runs: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '5' },
    refreshes: { type: 'string', default: '2' },
    json: { type: 'string', default: join(ROOT, 'docs/bench-ui-latest.json') },
    profile: { type: 'boolean', default: false },
  },
});
const NODES = Number(opts.nodes);
const EDGES = Number(opts.edges);
const TRACE_SPANS = Number(opts.spans);
const RUNS = Number(opts.runs);
const FPS_SECONDS = Number(opts.seconds);
const REFRESHES_AFTER = Number(opts.refreshes);

const TARGET = { fps: 30, relayoutPx: 1, openMs: 1000, jsKbGzip: 300, refreshFrameMs: 100 };
const benchStarted = performance.now();
const log = (message: string) => process.stderr.write(`[bench:ui +${((performance.now() - benchStarted) / 1000).toFixed(0)}s] ${message}\n`);
const load = () => loadavg().map((l) => Math.round(l * 100) / 100);
const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

// ---- OTLP/JSON traffic ------------------------------------------------------------------------------------

/** Spans grouped by their service's resource (service.name + k8s.namespace.name), as SDKs send them. */
class OtlpBody {
  private readonly byService = new Map<string, { namespace: string; spans: OtlpSpan[] }>();
  spans = 0;

  add(service: string, namespace: string, span: OtlpSpan): void {
    const entry = this.byService.get(service) ?? { namespace, spans: [] };
    this.byService.set(service, entry);
    entry.spans.push(span);
    this.spans++;
  }

  json(): string {
    return JSON.stringify({
      resourceSpans: [...this.byService].map(([service, { namespace, spans }]) => ({
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }, ...(namespace ? [{ key: 'k8s.namespace.name', value: { stringValue: namespace } }] : [])] },
        scopeSpans: [{ scope: { name: 'bench-ui' }, spans }],
      })),
    });
  }
}

async function post(meshlens: TestMeshlens, body: OtlpBody): Promise<void> {
  const response = await fetch(`${meshlens.otlpHttpUrl}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body.json() });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`POST /v1/traces answered ${response.status}: ${text}`);
  const answer = JSON.parse(text) as { partialSuccess?: { rejectedSpans?: string | number } };
  if (Number(answer.partialSuccess?.rejectedSpans ?? 0) > 0) throw new Error(`meshlens rejected spans: ${text}`);
}

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');
const ns = (ms: number) => String(BigInt(Math.round(ms * 1000)) * 1000n);

// ---- 1. the mesh: NODES services, EDGES caller → callee pairs ---------------------------------------------

interface MeshService {
  name: string;
  namespace: string;
}

interface MeshEdge {
  source: number;
  target: number;
  /** Requests per second this edge carries (log-uniform 0.05–2,000): sets the sampling weight. */
  rps: number;
  errorShare: number;
}

/**
 * A layered mesh as real call graphs are: five tiers (edge proxies → front ends → … → data services), every
 * service in a tier called by one in the tier above, the rest of the edges random between a tier and the
 * one or two below; services spread over ten namespaces.
 */
function buildMesh(nodeCount: number, edgeCount: number): { services: MeshService[]; edges: MeshEdge[] } {
  const rnd = random(0x5eed);
  const tiers = 5;
  const perTier = Math.ceil(nodeCount / tiers);
  const tierOf = (i: number) => Math.floor(i / perTier);
  const services = Array.from({ length: nodeCount }, (_, i) => ({ name: `svc-${hex(i, 3)}`, namespace: `team-${i % 10}` }));
  const inTier = (tier: number) => services.map((_, i) => i).filter((i) => tierOf(i) === tier);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)]!;
  const pairs = new Set<string>();
  const edges: MeshEdge[] = [];
  const addEdge = (source: number, target: number) => {
    const key = `${source}>${target}`;
    if (source === target || pairs.has(key)) return;
    pairs.add(key);
    const rps = 0.05 * Math.pow(40_000, rnd());
    const errorShare = rnd() < 0.8 ? 0 : rnd() < 0.7 ? 0.002 : 0.08;
    edges.push({ source, target, rps, errorShare });
  };
  const lastTier = tierOf(nodeCount - 1);
  for (let i = 0; i < nodeCount; i++) if (tierOf(i) > 0) addEdge(pick(inTier(tierOf(i) - 1)), i);
  const calling = new Set(edges.map((e) => e.source));
  for (let i = 0; i < nodeCount; i++) if (tierOf(i) < lastTier && !calling.has(i)) addEdge(i, pick(inTier(tierOf(i) + 1)));
  assert.ok(edges.length <= edgeCount, `${edgeCount} edges cannot cover ${nodeCount} nodes this way`);
  while (edges.length < edgeCount) {
    const source = Math.floor(rnd() * nodeCount);
    const tier = tierOf(source);
    if (tier >= lastTier) continue;
    const below = Math.min(lastTier, tier + (rnd() < 0.75 ? 1 : 2));
    addEdge(source, pick(inTier(below)));
  }
  return { services, edges };
}

const WINDOW_SECONDS = 15 * 60; // the UI's default range
let traceCounter = 0;

/**
 * One sampled call per edge (two for edges with errors: one failing): a CLIENT span in the caller and a
 * SERVER span in the callee, whose `SampleRate` (Honeycomb's "1 in N", read by the graph's pairing) makes
 * the pair stand for the edge's requests over the UI's 15-minute window.
 */
function callsBody(services: readonly MeshService[], edges: readonly MeshEdge[], atMs: number, rateFactor = 1): OtlpBody {
  const body = new OtlpBody();
  for (const edge of edges) {
    const requests = Math.max(1, Math.round(edge.rps * rateFactor * WINDOW_SECONDS));
    const failing = edge.errorShare > 0 ? Math.max(1, Math.round(requests * edge.errorShare)) : 0;
    const calls: Array<{ weight: number; error: boolean }> = failing > 0 && requests > failing ? [{ weight: requests - failing, error: false }, { weight: failing, error: true }] : [{ weight: requests, error: false }];
    for (const call of calls) {
      const trace = ++traceCounter;
      const traceId = hex(0xb0000000 + trace, 32);
      const clientId = hex(trace * 2, 16);
      const start = atMs + (trace % 1000);
      const latency = 2 + ((trace * 7919) % 180);
      const caller = services[edge.source]!;
      const callee = services[edge.target]!;
      const rate = { key: 'SampleRate', value: { intValue: call.weight } };
      body.add(caller.name, caller.namespace, { traceId, spanId: clientId, name: `GET /${callee.name}`, kind: SPAN_KIND.client, startTimeUnixNano: ns(start), endTimeUnixNano: ns(start + latency + 1), attributes: [rate, { key: 'server.address', value: { stringValue: `${callee.name}.${callee.namespace}` } }] });
      body.add(callee.name, callee.namespace, {
        traceId,
        spanId: hex(trace * 2 + 1, 16),
        parentSpanId: clientId,
        name: `GET /${callee.name}`,
        kind: SPAN_KIND.server,
        startTimeUnixNano: ns(start + 0.5),
        endTimeUnixNano: ns(start + 0.5 + latency),
        attributes: [rate, { key: 'http.response.status_code', value: { intValue: call.error ? 503 : 200 } }],
        ...(call.error ? { status: { code: 2 } } : {}),
      });
    }
  }
  return body;
}

type Graph = { nodes: GraphNode[]; edges: GraphEdge[] };
const apiGraph = async (meshlens: TestMeshlens): Promise<Graph> => (await getJson<Graph>(`${meshlens.queryUrl}/api/v1/service-graph?start=${Date.now() - WINDOW_SECONDS * 1000}`)).body;

async function graphUntil(meshlens: TestMeshlens, what: string, ok: (graph: Graph) => boolean): Promise<Graph> {
  let graph: Graph = { nodes: [], edges: [] };
  for (let i = 0; i < 300; i++) {
    graph = await apiGraph(meshlens);
    if (ok(graph)) return graph;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what}: the API still answers ${graph.nodes.length} nodes / ${graph.edges.length} edges`);
}

// ---- in the page ------------------------------------------------------------------------------------------
// Page-side code is given as strings: this project's TypeScript has no DOM types outside ui/.

/** Counts animation frames for `ms` and returns their timestamps (ms, the page's clock). */
const countFrames = (ms: number) => `new Promise((resolve) => {
  const stamps = [];
  const first = performance.now();
  const tick = (now) => {
    stamps.push(now);
    if (now - first < ${ms}) requestAnimationFrame(tick); else resolve(stamps);
  };
  requestAnimationFrame(tick);
})`;

/**
 * Records, until `window.__refreshBench.stop` is set: every animation frame's timestamp, each live refresh's
 * end (the view writes "… updated <time>" into its status line as the refresh's last step; a
 * MutationObserver notes the moment, inside the refresh's own task), the page's long tasks (> 50 ms) and the
 * view's own User Timing measures of a refresh's steps ("graph: model", "graph: lists", …).
 */
const RECORD_REFRESHES = `(() => {
  const record = { stamps: [], marks: [], longTasks: [], steps: [], stop: false };
  window.__refreshBench = record;
  const tick = (now) => { record.stamps.push(now); if (!record.stop) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  const status = document.querySelector('.toolbar .status');
  new MutationObserver(() => {
    if (!record.stop && status.textContent.includes('updated')) record.marks.push({ at: performance.now(), text: status.textContent });
  }).observe(status, { childList: true, characterData: true, subtree: true });
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) record.longTasks.push({ start: entry.startTime, ms: entry.duration });
  }).observe({ type: 'longtask' });
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) if (entry.name.startsWith('graph: ')) record.steps.push({ name: entry.name.slice(7), start: entry.startTime, ms: entry.duration });
  }).observe({ type: 'measure' });
})()`;

interface RefreshRecord {
  stamps: number[];
  marks: Array<{ at: number; text: string }>;
  longTasks: Array<{ start: number; ms: number }>;
  steps: Array<{ name: string; start: number; ms: number }>;
}

interface RefreshCost {
  /** The view's status line after the refresh ("501 nodes · 2002 edges · updated …"). */
  status: string;
  /** Longest frame (gap between two animation frames) overlapping the 300 ms before and after the refresh's end. */
  longestFrameMs: number;
  /** Longest main-thread task that ended within 1 s before the refresh's end or 300 ms after it. */
  longestTaskMs: number;
  /** The view's own measures of the refresh's steps (ms): model, layout, scene, lists, details and fit. */
  steps: Record<string, number>;
}

/** What each recorded refresh cost: the frames and long tasks around its end. */
function refreshCosts(record: RefreshRecord): RefreshCost[] {
  return record.marks.map(({ at, text }) => {
    let longestFrameMs = 0;
    for (let i = 1; i < record.stamps.length; i++) {
      const [from, to] = [record.stamps[i - 1]!, record.stamps[i]!];
      if (to >= at - 300 && from <= at + 300) longestFrameMs = Math.max(longestFrameMs, to - from);
    }
    const tasks = record.longTasks.filter((task) => task.start + task.ms >= at - 1000 && task.start <= at + 300);
    const steps: Record<string, number> = {};
    for (const step of record.steps) if (step.start >= at - 1000 && step.start <= at + 300) steps[step.name] = round((steps[step.name] ?? 0) + step.ms);
    return { status: text.replace(/ · updated.*$/, ''), longestFrameMs: round(longestFrameMs), longestTaskMs: round(Math.max(0, ...tasks.map((task) => task.ms))), steps };
  });
}

interface FrameFigures {
  frames: number;
  seconds: number;
  meanFps: number;
  /** 1000 / the median frame interval. */
  medianFps: number;
  /** Fewest frames in any 1-s window starting at a frame. */
  worstWindowFps: number;
  /** Longest gap between two frames. */
  longestFrameMs: number;
}

function frameFigures(stamps: readonly number[]): FrameFigures {
  const intervals = stamps.slice(1).map((t, i) => t - stamps[i]!);
  const span = stamps[stamps.length - 1]! - stamps[0]!;
  let worst = Infinity;
  for (let i = 0, j = 0; i < stamps.length && stamps[i]! + 1000 <= stamps[stamps.length - 1]!; i++) {
    while (j < stamps.length && stamps[j]! < stamps[i]! + 1000) j++;
    worst = Math.min(worst, j - i);
  }
  return {
    frames: stamps.length,
    seconds: round(span / 1000, 2),
    meanFps: round(((stamps.length - 1) * 1000) / span),
    medianFps: round(1000 / median(intervals)),
    worstWindowFps: worst === Infinity ? stamps.length : worst,
    longestFrameMs: round(Math.max(...intervals)),
  };
}

type Metrics = Map<string, number>;
async function metrics(session: CDPSession): Promise<Metrics> {
  const { metrics: list } = await session.send('Performance.getMetrics');
  return new Map(list.map((m) => [m.name, m.value]));
}

/** The page's main-thread time per second of wall time, by kind, between two Performance.getMetrics. */
function busyShare(before: Metrics, after: Metrics): { task: number; script: number; layout: number; style: number } {
  const wall = after.get('Timestamp')! - before.get('Timestamp')!;
  const share = (name: string) => round((100 * (after.get(name)! - before.get(name)!)) / wall);
  return { task: share('TaskDuration'), script: share('ScriptDuration'), layout: share('LayoutDuration'), style: share('RecalcStyleDuration') };
}

/** The page's heaviest functions by self time over `run` (CDP Profiler), for --profile. */
async function profiled(session: CDPSession, run: () => Promise<unknown>): Promise<Array<{ fn: string; selfMs: number; share: number }>> {
  await session.send('Profiler.enable');
  await session.send('Profiler.setSamplingInterval', { interval: 200 });
  await session.send('Profiler.start');
  await run();
  const { profile } = await session.send('Profiler.stop');
  const self = new Map<string, number>();
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const deltas = profile.timeDeltas ?? [];
  let total = 0;
  (profile.samples ?? []).forEach((id, i) => {
    const frame = byId.get(id)!.callFrame;
    const where = frame.url ? `${frame.url.replace(/^.*\//, '')}:${frame.lineNumber + 1}` : '';
    const key = `${frame.functionName || '(anonymous)'} ${where}`.trim();
    const ms = (deltas[i] ?? 0) / 1000;
    total += ms;
    self.set(key, (self.get(key) ?? 0) + ms);
  });
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12)
    .map(([fn, ms]) => ({ fn, selfMs: round(ms), share: round((100 * ms) / total) }));
}

interface TraceEvent {
  name: string;
  ph: string;
  ts: number;
  dur?: number;
  tid: number;
  pid: number;
  args?: { data?: Record<string, unknown> };
}

interface LongTaskBreakdown {
  taskMs: number;
  /** Inclusive time of the trace events inside the task, by name (nested events overlap their parents). */
  inside: Record<string, number>;
}

/**
 * The page's longest main-thread tasks over `run`, each broken down by what ran inside (CDP Tracing,
 * devtools.timeline: script, style recalculation, layout, paint, GC…), for --profile.
 */
async function tracedLongTasks(session: CDPSession, run: () => Promise<unknown>, count = 4): Promise<LongTaskBreakdown[]> {
  const events: TraceEvent[] = [];
  const collect = (payload: { value: object[] }) => events.push(...(payload.value as TraceEvent[]));
  session.on('Tracing.dataCollected', collect);
  await session.send('Tracing.start', { categories: 'devtools.timeline,v8.execute,disabled-by-default-devtools.timeline', transferMode: 'ReportEvents' });
  await run();
  const complete = new Promise<void>((resolve) => session.once('Tracing.tracingComplete', () => resolve()));
  await session.send('Tracing.end');
  await complete;
  session.off('Tracing.dataCollected', collect);
  // The renderer's main thread: the one with the most 'RunTask' time among those running the page's frames.
  const frameThreads = new Set(events.filter((e) => e.name === 'FireAnimationFrame').map((e) => `${e.pid}:${e.tid}`));
  const tasks = events.filter((e) => e.ph === 'X' && e.name === 'RunTask' && frameThreads.has(`${e.pid}:${e.tid}`)).sort((a, b) => b.dur! - a.dur!).slice(0, count);
  return tasks.map((task) => {
    const inside: Record<string, number> = {};
    for (const e of events) {
      if (e.ph !== 'X' || e.pid !== task.pid || e.tid !== task.tid || e === task || e.ts < task.ts || e.ts + (e.dur ?? 0) > task.ts + task.dur!) continue;
      const name = e.name === 'FunctionCall' || e.name === 'TimerFire' || e.name === 'FireAnimationFrame' || e.name === 'EventDispatch' ? `${e.name} ${String(e.args?.data?.functionName ?? e.args?.data?.type ?? '')}`.trim() : e.name;
      inside[name] = round((inside[name] ?? 0) + (e.dur ?? 0) / 1000);
    }
    const top = Object.entries(inside).sort((a, b) => b[1] - a[1]).slice(0, 14);
    return { taskMs: round(task.dur! / 1000), inside: Object.fromEntries(top) };
  });
}

function printProfile(title: string, top: Array<{ fn: string; selfMs: number; share: number }>): void {
  console.log(`\n${title} (self time):`);
  for (const row of top) console.log(`  ${String(row.share).padStart(5)} %  ${String(row.selfMs).padStart(8)} ms  ${row.fn}`);
}

// ---- 3. the big trace -------------------------------------------------------------------------------------

const BIG_TRACE = 'b16b16'.padStart(32, '0');

/** A trace of `count` spans over six services: a 4-ary call tree, every child inside its parent's time. */
function bigTraceBody(count: number, rootStartMs: number): OtlpBody {
  const body = new OtlpBody();
  const bounds: Array<[number, number]> = [];
  for (let i = 0; i < count; i++) {
    const parent = i === 0 ? -1 : Math.floor((i - 1) / 4);
    let start = rootStartMs;
    let end = rootStartMs + 2_000;
    if (parent >= 0) {
      const [ps, pe] = bounds[parent]!;
      const quarter = (pe - ps) / 4;
      start = ps + ((i - 1) % 4) * quarter + quarter / 20;
      end = start + (quarter * 9) / 10;
    }
    bounds.push([start, end]);
    const depth = Math.floor(Math.log(3 * i + 1) / Math.log(4));
    // A SERVER span where the service changes (a call came in), INTERNAL work inside a service: the root is
    // INTERNAL so the trace adds no edge from an 'unknown' caller to the graph measured before.
    const service = `bulk-${depth % 6}`;
    body.add(service, 'bulk', {
      traceId: BIG_TRACE,
      spanId: hex(0x100000 + i, 16),
      ...(parent >= 0 ? { parentSpanId: hex(0x100000 + parent, 16) } : {}),
      name: `step ${i % 7}`,
      kind: SPAN_KIND.internal,
      startTimeUnixNano: ns(start),
      endTimeUnixNano: ns(end),
      attributes: [{ key: 'work.index', value: { intValue: i } }, { key: 'http.route', value: { stringValue: `/work/${i % 13}` } }],
      ...(i % 97 === 5 ? { status: { code: 2 } } : {}),
    });
  }
  return body;
}

/** Marks, from the document's start, when the trace view reports its rows painted (data-open-ms). */
const OPEN_OBSERVER = `
  window.__bench = { clickAt: null, openedAt: null };
  document.addEventListener('click', (event) => { window.__bench.clickAt = event.timeStamp; window.__bench.openedAt = null; }, true);
  new MutationObserver((records) => {
    for (const record of records) {
      if (record.attributeName === 'data-open-ms' && record.target.hasAttribute('data-open-ms') && window.__bench.openedAt === null) window.__bench.openedAt = performance.now();
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-open-ms'] });
`;

interface OpenRun {
  /** Click (or navigation start) to the rows painted, as the page's clock says. */
  ms: number;
  /** What the trace view itself measured (data-open-ms) and how it split it (data-timings). */
  viewMs: number;
  timings: string;
  fetchMs?: number;
  /** When the fetch started (navigation start = 0): the app's boot before it can ask. */
  fetchStartMs?: number;
  fetchBytes?: number;
  fetchTransferBytes?: number;
  /** Deep link: when the HTML and the app's script had arrived, the DOM was interactive, the fetch ended. */
  milestones?: Record<string, number>;
}

async function openedRun(page: Page, fromMs: number): Promise<OpenRun> {
  await page.waitForSelector('.trace-view[data-open-ms]', { timeout: 60_000 });
  await page.waitForFunction('window.__bench.openedAt !== null');
  const [openedAt, viewMs, timings, total] = await Promise.all([
    page.evaluate<number>('window.__bench.openedAt'),
    page.getAttribute('.trace-view', 'data-open-ms'),
    page.getAttribute('.trace-view', 'data-timings'),
    page.getAttribute('[data-span-total]', 'data-span-total'),
  ]);
  assert.equal(Number(total), TRACE_SPANS, 'the view shows every span');
  assert.ok((await page.$$('.wf-row')).length > 5, 'waterfall rows in the DOM');
  return { ms: round(openedAt - fromMs), viewMs: Number(viewMs), timings: timings ?? '' };
}

// ---- 4. bundle size ---------------------------------------------------------------------------------------

function bundleSize(): { files: Array<{ file: string; kb: number; gzipKb: number }>; totalKb: number; totalGzipKb: number } {
  const dir = join(ROOT, 'ui/dist/assets');
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .map((file) => {
      const bytes = readFileSync(join(dir, file));
      return { file, kb: round(bytes.length / 1024), gzipKb: round(gzipSync(bytes, { level: 9 }).length / 1024) };
    });
  return { files, totalKb: round(files.reduce((s, f) => s + f.kb, 0)), totalGzipKb: round(files.reduce((s, f) => s + f.gzipKb, 0)) };
}

// ---- main -------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (skipWithoutChromium) throw new Error(skipWithoutChromium);
  log(`load average ${load().join(' ')}; building the UI if stale (bin/build-ui.ts)`);
  await ensureUiBuilt({ quiet: true });
  const bundle = bundleSize();
  log(`built JS: ${bundle.totalKb} KB, ${bundle.totalGzipKb} KB gzipped`);

  const meshlens = await startTestMeshlens({ overrides: { 'graph.wait': '2s', 'graph.flush_interval': '300ms' } });
  const browser = await launchBrowser();
  const loads: Record<string, number[]> = { start: load() };
  try {
    // 1. The 500/2,000 graph, sent as sampled CLIENT/SERVER pairs through /v1/traces.
    const mesh = buildMesh(NODES, EDGES);
    const seedStarted = performance.now();
    const sentAt = Date.now() - 120_000;
    const seed = callsBody(mesh.services, mesh.edges, sentAt);
    log(`seeding ${NODES} services / ${EDGES} edges as ${seed.spans.toLocaleString()} spans through OTLP/HTTP`);
    await post(meshlens, seed);
    const graph = await graphUntil(meshlens, 'seeding', (g) => g.edges.length >= EDGES);
    assert.equal(graph.nodes.length, NODES, 'the API answers exactly the seeded nodes');
    assert.equal(graph.edges.length, EDGES, 'the API answers exactly the seeded edges');
    const seedSeconds = round((performance.now() - seedStarted) / 1000);
    log(`the API answers ${graph.nodes.length} nodes / ${graph.edges.length} edges (${seedSeconds} s after the first span was sent)`);

    const page = await browser.context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    const session = await page.context().newCDPSession(page);
    await session.send('Performance.enable');
    const opened = performance.now();
    // Live refresh off while measuring the animation alone; its cost is measured with the refresh below.
    await page.goto(`${meshlens.queryUrl}/?live=0`);
    await page.waitForSelector('.graph-stage[data-state="ready"]', { timeout: 60_000 });
    const drawnNodes = await page.$$eval('[data-node-id]', (elements) => elements.length);
    const drawnEdges = await page.$$eval('[data-edge-id]', (elements) => elements.length);
    assert.equal(drawnNodes, NODES, 'the page lists every node');
    assert.equal(drawnEdges, EDGES, 'the page lists every edge');
    const firstDrawMs = round(performance.now() - opened, 0);
    log(`graph page ready in ${firstDrawMs} ms (${drawnNodes} nodes, ${drawnEdges} edges); measuring ${FPS_SECONDS} s of animation`);
    // Let the first draw's work settle.
    await page.waitForTimeout(500);
    const before = await metrics(session);
    loads.fps = load();
    const stamps = await page.evaluate<number[]>(countFrames(FPS_SECONDS * 1000));
    const after = await metrics(session);
    const fps = { ...frameFigures(stamps), mainThreadBusyPercent: busyShare(before, after) };
    log(`animation: median ${fps.medianFps} fps, mean ${fps.meanFps}, worst 1-s window ${fps.worstWindowFps} frames, longest frame ${fps.longestFrameMs} ms; main thread busy ${fps.mainThreadBusyPercent.task} %`);
    const profiles: Record<string, Array<{ fn: string; selfMs: number; share: number }>> = {};
    if (opts.profile) profiles.animation = await profiled(session, () => page.waitForTimeout(3000));

    assert.deepEqual(problems, [], 'no script errors on the graph page');
    await page.close();

    // 2. New traffic arrives (rates change on a quarter of the edges) and one new service calls two old ones:
    // the next live refresh must leave every existing node where it was.
    const live = await browser.context.newPage();
    const liveProblems: string[] = [];
    live.on('pageerror', (error) => liveProblems.push(error.message));
    await live.goto(`${meshlens.queryUrl}/?refresh=5`);
    await live.waitForSelector('.graph-stage[data-state="ready"]', { timeout: 60_000 });
    const positions = () => live.$$eval('[data-node-id]', (elements) => elements.map((e) => [e.getAttribute('data-node-id')!, Number(e.getAttribute('data-x')), Number(e.getAttribute('data-y'))] as const));
    // The view's pan/zoom (data-zoom = "x,y,k"): until the user moves it, the view refits the whole graph on
    // a refresh, so a new node at the edge can shift everything on screen without any node moving in the layout.
    const zoom = async () => (await live.getAttribute('canvas', 'data-zoom'))!.split(',').map(Number) as [number, number, number];
    const beforeRefresh = new Map((await positions()).map(([id, x, y]) => [id, { x, y }]));
    const zoomBefore = await zoom();
    const newcomer: MeshService = { name: 'svc-new', namespace: 'team-3' };
    const services = [...mesh.services, newcomer];
    const changed = mesh.edges.filter((_, i) => i % 4 === 0);
    const extra = [{ source: NODES, target: changed[0]!.target, rps: 5, errorShare: 0 }, { source: NODES, target: changed[1]!.target, rps: 2, errorShare: 0 }];
    const probeEdge = graph.edges.find((e) => e.source.endsWith(`/${services[changed[2]!.source]!.name}`) && e.target.endsWith(`/${services[changed[2]!.target]!.name}`))!;
    const probeRequests = await live.getAttribute(`[data-edge-id="${probeEdge.id}"]`, 'data-requests');
    log(`refresh: new traffic on ${changed.length} edges and a new service with 2 edges; waiting for the page's next live refresh`);
    // Frames, refresh ends and long tasks are recorded in the page from now on: the refresh that brings the
    // new traffic (a new node to lay out, 500 changed edges) and REFRESHES_AFTER plain ones after it.
    await live.evaluate(RECORD_REFRESHES);
    const cdp = opts.profile ? await live.context().newCDPSession(live) : null;
    let record: RefreshRecord = { stamps: [], marks: [], longTasks: [], steps: [] };
    let refreshSeenMs = 0;
    const measureRefreshes = async () => {
      const refreshSent = performance.now();
      await post(meshlens, callsBody(services, [...changed, ...extra], Date.now() - 60_000, 0.5));
      await graphUntil(meshlens, 'the refresh traffic', (g) => g.edges.length === EDGES + 2);
      loads.refresh = load();
      await live.waitForSelector('[data-node-id$="/svc-new"]', { timeout: 30_000 });
      refreshSeenMs = round(performance.now() - refreshSent, 0);
      const marksWhenShown = await live.evaluate<number>('window.__refreshBench.marks.length');
      log(`refresh: the new node is drawn; recording ${REFRESHES_AFTER} more live refreshes`);
      await live.waitForFunction(`window.__refreshBench.marks.length >= ${marksWhenShown + REFRESHES_AFTER}`, undefined, { timeout: 30_000 + REFRESHES_AFTER * 10_000 });
      await live.waitForTimeout(400);
      record = await live.evaluate<RefreshRecord>('(window.__refreshBench.stop = true, window.__refreshBench)');
    };
    let refreshTasks: LongTaskBreakdown[] = [];
    if (cdp !== null) {
      profiles.liveRefresh = await profiled(cdp, async () => (refreshTasks = await tracedLongTasks(cdp, measureRefreshes)));
      console.log('\nlive refresh: the longest main-thread tasks (CDP trace), inclusive ms of what ran inside:');
      for (const task of refreshTasks) console.log(`  ${task.taskMs} ms: ${Object.entries(task.inside).map(([name, ms]) => `${name} ${ms}`).join(', ')}`);
    }
    else await measureRefreshes();
    const probeAfter = await live.getAttribute(`[data-edge-id="${probeEdge.id}"]`, 'data-requests');
    assert.ok(Number(probeAfter) > Number(probeRequests), `the refresh shows the new traffic (${probeEdge.id}: ${probeRequests} → ${probeAfter})`);
    const moves: number[] = [];
    const screenMoves: number[] = [];
    const zoomAfter = await zoom();
    const onScreen = ([tx, ty, k]: [number, number, number], p: { x: number; y: number }) => ({ x: tx + k * p.x, y: ty + k * p.y });
    for (const [id, x, y] of await positions()) {
      const old = beforeRefresh.get(id);
      if (old === undefined) continue;
      moves.push(Math.hypot(x - old.x, y - old.y));
      const [a, b] = [onScreen(zoomBefore, old), onScreen(zoomAfter, { x, y })];
      screenMoves.push(Math.hypot(b.x - a.x, b.y - a.y));
    }
    assert.equal(moves.length, NODES, 'every old node is still drawn');
    const refreshes = refreshCosts(record);
    assert.ok(refreshes.length >= REFRESHES_AFTER + 1, `live refreshes recorded (${refreshes.length})`);
    const refresh = {
      nodesCompared: moves.length,
      maxMovePx: round(Math.max(...moves), 2),
      medianMovePx: round(median(moves), 2),
      movedNodes: moves.filter((m) => m > 0.01).length,
      /** On screen, with the view's refit: what the eye sees. */
      maxScreenMovePx: round(Math.max(...screenMoves), 2),
      medianScreenMovePx: round(median(screenMoves), 2),
      zoomBefore,
      zoomAfter,
      newNodeDrawn: true,
      secondsUntilShown: round(refreshSeenMs / 1000),
      /** Every live refresh recorded (the one with the new node among them): its longest frame and task. */
      refreshes,
      longestRefreshFrameMs: Math.max(...refreshes.map((r) => r.longestFrameMs)),
      longestRefreshTaskMs: Math.max(...refreshes.map((r) => r.longestTaskMs)),
      /** All frames over the recording (from the new traffic's POST to the last refresh). */
      framesOverRefreshes: frameFigures(record.stamps),
    };
    log(`refresh: ${refresh.movedNodes} of ${moves.length} old nodes moved (max ${refresh.maxMovePx} px, median ${refresh.medianMovePx} px; on screen max ${refresh.maxScreenMovePx} px); ${refreshes.length} live refreshes: longest frame ${refreshes.map((r) => r.longestFrameMs).join(' / ')} ms, longest task ${refreshes.map((r) => r.longestTaskMs).join(' / ')} ms (${refreshes.map((r) => r.status).join('; ')})`);
    for (const r of refreshes) if (Object.keys(r.steps).length > 0) log(`  ${r.status}: ${Object.entries(r.steps).map(([name, ms]) => `${name} ${ms} ms`).join(', ')}`);
    assert.deepEqual(liveProblems, [], 'no script errors on the live graph page');
    await live.close();

    // 3. The 10,000-span trace.
    log(`sending a ${TRACE_SPANS.toLocaleString()}-span trace through OTLP/HTTP`);
    await post(meshlens, bigTraceBody(TRACE_SPANS, Date.now() - 90_000));
    for (let i = 0; ; i++) {
      const { status, body } = await getJson<{ data: Array<{ spans: unknown[] }> | null }>(`${meshlens.queryUrl}/api/traces/${BIG_TRACE}`);
      if (status === 200 && body.data?.[0]?.spans.length === TRACE_SPANS) break;
      if (i > 300) throw new Error('the big trace did not arrive');
      await new Promise((r) => setTimeout(r, 200));
    }
    const apiTimes: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const started = performance.now();
      await (await fetch(`${meshlens.queryUrl}/api/traces/${BIG_TRACE}`)).arrayBuffer();
      apiTimes.push(performance.now() - started);
    }
    const apiBytes = (await (await fetch(`${meshlens.queryUrl}/api/traces/${BIG_TRACE}`)).arrayBuffer()).byteLength;
    log(`stored; GET /api/traces/{id} from node: median ${round(median(apiTimes), 0)} ms, ${round(apiBytes / 1024 / 1024, 2)} MiB`);
    await browser.context.addInitScript(OPEN_OBSERVER);

    loads.trace = load();
    const fromList: OpenRun[] = [];
    for (let run = 0; run < RUNS; run++) {
      const search = await browser.context.newPage();
      await search.goto(`${meshlens.queryUrl}/?view=traces&service=bulk-0&range=1h`);
      await search.waitForSelector('.ts-main[data-state="ready"]', { timeout: 60_000 });
      await search.click(`.ts-result[data-trace-id="${BIG_TRACE}"]`);
      const clickAt = await search.evaluate<number>('window.__bench.clickAt');
      fromList.push(await openedRun(search, clickAt));
      log(`from the list, run ${run + 1}: ${fromList[run]!.ms} ms (${fromList[run]!.timings})`);
      if (opts.profile && run === RUNS - 1) {
        await search.goBack();
        await search.waitForSelector('.ts-main[data-state="ready"]');
        const cdp = await search.context().newCDPSession(search);
        profiles.openFromList = await profiled(cdp, async () => {
          await search.click(`.ts-result[data-trace-id="${BIG_TRACE}"]`);
          await search.waitForSelector('.trace-view[data-open-ms]');
        });
      }
      await search.close();
    }

    const deepLink: OpenRun[] = [];
    for (let run = 0; run < RUNS; run++) {
      const deep = await browser.context.newPage();
      let cdp: CDPSession | null = null;
      if (opts.profile && run === RUNS - 1) {
        cdp = await deep.context().newCDPSession(deep);
        await cdp.send('Profiler.enable');
      }
      const go = () => deep.goto(`${meshlens.queryUrl}/?view=trace&trace=${BIG_TRACE}`);
      if (cdp !== null) profiles.deepLink = await profiled(cdp, async () => { await go(); await deep.waitForSelector('.trace-view[data-open-ms]'); });
      else await go();
      // Navigation start is the page's time 0.
      const result = await openedRun(deep, 0);
      const fetchEntry = await deep.evaluate<{ ms: number; startMs: number; bytes: number; transfer: number; boot: Record<string, number> } | null>(`(() => {
        const entry = performance.getEntriesByType('resource').find((e) => e.name.includes('/api/traces/'));
        const script = performance.getEntriesByType('resource').find((e) => e.name.includes('/assets/') && e.name.endsWith('.js'));
        const navigation = performance.getEntriesByType('navigation')[0];
        return entry ? { ms: entry.responseEnd - entry.startTime, startMs: entry.startTime, bytes: entry.decodedBodySize, transfer: entry.transferSize,
          boot: { htmlMs: navigation.responseEnd, scriptLoadedMs: script ? script.responseEnd : -1, domInteractiveMs: navigation.domInteractive, fetchEndMs: entry.responseEnd } } : null;
      })()`);
      assert.ok(fetchEntry !== null && fetchEntry.transfer > 0, 'the deep link fetched the trace from meshlens (not a cache)');
      result.fetchMs = round(fetchEntry.ms);
      result.fetchBytes = fetchEntry.bytes;
      result.fetchTransferBytes = fetchEntry.transfer;
      result.fetchStartMs = round(fetchEntry.startMs);
      result.milestones = Object.fromEntries(Object.entries(fetchEntry.boot).map(([name, ms]) => [name, round(ms)]));
      deepLink.push(result);
      log(`deep link, run ${run + 1}: ${result.ms} ms from navigation start; /api/traces/{id} from ${result.fetchStartMs} ms for ${result.fetchMs} ms (${result.timings}; ${Object.entries(result.milestones).map(([k, v]) => `${k} ${v}`).join(', ')})`);
      await deep.close();
    }

    // ---- report ---------------------------------------------------------------------------------------------
    loads.end = load();
    const listMs = median(fromList.map((r) => r.ms));
    const deepMs = median(deepLink.map((r) => r.ms));
    const deepFetchMs = median(deepLink.map((r) => r.fetchMs!));
    const deepFetchStartMs = median(deepLink.map((r) => r.fetchStartMs!));
    const results = {
      date: new Date().toISOString(),
      chromium: browser.context.browser()?.version() ?? 'persistent context',
      loadAverage: loads,
      graph: { nodes: NODES, edges: EDGES, seedSpans: seed.spans, seedSeconds, firstDrawMs, fps, refresh },
      trace: {
        spans: TRACE_SPANS,
        apiFromNodeMedianMs: round(median(apiTimes)),
        apiBytes,
        fromList: { medianMs: listMs, runs: fromList },
        deepLink: { medianMs: deepMs, fetchMedianMs: deepFetchMs, fetchStartMedianMs: deepFetchStartMs, runs: deepLink },
      },
      bundle,
      targets: TARGET,
      ...(opts.profile ? { profiles, refreshTasks } : {}),
    };
    const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');
    const rows: Array<[string, string, string, string]> = [
      [`graph ${NODES} nodes / ${EDGES} edges: animation, median fps`, `${fps.medianFps} (mean ${fps.meanFps})`, `≥ ${TARGET.fps}`, verdict(fps.medianFps >= TARGET.fps)],
      ['  worst 1-s window (frames)', String(fps.worstWindowFps), `≥ ${TARGET.fps}`, verdict(fps.worstWindowFps >= TARGET.fps)],
      ['  longest frame / main thread busy while animating', `${fps.longestFrameMs} ms / ${fps.mainThreadBusyPercent.task} % (script ${fps.mainThreadBusyPercent.script} %)`, '', ''],
      ['live refresh: old nodes moved, max / median', `${refresh.maxMovePx} / ${refresh.medianMovePx} px (${refresh.movedNodes} of ${refresh.nodesCompared} moved)`, `~0`, verdict(refresh.maxMovePx < TARGET.relayoutPx)],
      ['  on screen, with the view refitted to the new node, max / median', `${refresh.maxScreenMovePx} / ${refresh.medianScreenMovePx} px (zoom ${refresh.zoomBefore[2].toFixed(3)} → ${refresh.zoomAfter[2].toFixed(3)})`, '', ''],
      [`  live refresh: longest frame around a refresh (${refreshes.length} refreshes, each)`, `${refresh.longestRefreshFrameMs} ms (${refreshes.map((r) => r.longestFrameMs).join(' / ')})`, `≤ ~${TARGET.refreshFrameMs} ms`, verdict(refresh.longestRefreshFrameMs <= TARGET.refreshFrameMs)],
      ['    longest main-thread task around a refresh (each)', `${refresh.longestRefreshTaskMs} ms (${refreshes.map((r) => r.longestTaskMs).join(' / ')})`, '', ''],
      ['    over the whole recording: worst 1-s window / longest frame', `${refresh.framesOverRefreshes.worstWindowFps} frames / ${refresh.framesOverRefreshes.longestFrameMs} ms`, '', ''],
      ['  page opened → graph drawn (first load)', `${firstDrawMs} ms`, '', ''],
      [`trace ${TRACE_SPANS.toLocaleString()} spans: from the list (click → rows painted), median`, `${listMs} ms`, `< ${TARGET.openMs} ms`, verdict(listMs < TARGET.openMs)],
      ['  by deep link (navigation → rows painted), median', `${deepMs} ms`, `< ${TARGET.openMs} ms`, verdict(deepMs < TARGET.openMs)],
      ['  of which GET /api/traces/{id} (Resource Timing), median', `${deepFetchMs} ms, starting at ${deepFetchStartMs} ms (${round(apiBytes / 1024 / 1024, 2)} MiB; from node ${round(median(apiTimes), 0)} ms)`, '', ''],
      ['built JS, gzipped', `${bundle.totalGzipKb} KB (${bundle.totalKb} KB raw, ${bundle.files.length} file${bundle.files.length === 1 ? '' : 's'})`, `≤ ${TARGET.jsKbGzip} KB`, verdict(bundle.totalGzipKb <= TARGET.jsKbGzip)],
    ];
    const widths = [0, 1, 2].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
    console.log(`\nnpm run bench:ui — ${results.date}, headless Chromium ${results.chromium}, load average ${loads.start!.join(' ')} → ${loads.end.join(' ')}\n`);
    for (const row of rows) console.log(`${row[0].padEnd(widths[0]!)}  ${row[1].padEnd(widths[1]!)}  ${row[2].padEnd(widths[2]!)}  ${row[3]}`);
    for (const [title, top] of Object.entries(profiles)) printProfile(`profile: ${title}`, top);
    if (opts.json) {
      writeFileSync(opts.json, `${JSON.stringify(results, null, 2)}\n`);
      log(`figures written to ${opts.json}`);
    }
  } finally {
    await browser.close();
    await meshlens.destroy();
  }
}

await main();
