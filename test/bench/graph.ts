// npm run bench:graph — the service graph API over a large store, against the naive query-time
// CLIENT ⋈ SERVER self-join over the span table measured in the same run.
//
//   --spans N      spans in the span table (default 10,000,000)
//   --services N   services in the edge rows (default 1,000)
//   --edges N      edges, each with traffic every minute of the last 24 h (default 5,000)
//   --data DIR     keep the store in DIR; a DIR this bench filled before is reused as it is (no refill), with
//                  the fill's time standing for "now", so a query can be changed and re-measured in seconds
//   --skip-naive   skip the self-join over the span table (it takes most of a re-run's time)
//   --rounds N     timed requests per window position (default 3: 30 per window), after one warm-up round
//   --against REV  also measure git revision REV on the same store (a worktree of it, this node_modules),
//                  alternating with this checkout over --compare-runs runs (default 6), each side first in
//                  turn: on this machine whichever runs first in a pair is often slower, so a fixed order misleads
//
// The graph's cost on ingest is measured by `npm run bench:ingest` (withServiceGraph).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, processStats, startMeshlens, stopMeshlens, timed, worker } from './harness.ts';

const { values: opts } = parseArgs({
  options: {
    spans: { type: 'string', default: '10000000' },
    services: { type: 'string', default: '1000' },
    edges: { type: 'string', default: '5000' },
    data: { type: 'string' },
    'skip-naive': { type: 'boolean', default: false },
    rounds: { type: 'string', default: '3' },
    against: { type: 'string' },
    'compare-runs': { type: 'string', default: '6' },
  },
});
const log = (message: string) => process.stderr.write(`[bench:graph] ${message}\n`);

/** What a filled store holds, written next to it so that `--data` can reuse it. */
interface FilledStore {
  spans: number;
  services: number;
  edges: number;
  /** The fill's "now" (Unix ms): the edge rows cover the 24 h before it. */
  nowMs: number;
  fillSeconds: number;
  edgeRows: Array<{ table: string; rows: string }>;
}

async function fill(dir: string): Promise<FilledStore> {
  const marker = join(dir, 'bench-graph-fill.json');
  if (existsSync(marker)) {
    const filled = JSON.parse(readFileSync(marker, 'utf8')) as FilledStore;
    if (filled.spans === Number(opts.spans) && filled.services === Number(opts.services) && filled.edges === Number(opts.edges)) {
      log(`reusing the store in ${dir}, filled at ${new Date(filled.nowMs).toISOString()}`);
      return filled;
    }
    throw new Error(`${dir} holds another size (${filled.spans} spans, ${filled.services} services, ${filled.edges} edges): choose another --data`);
  }
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new Error(`${dir} is not empty and was not filled by this bench (an interrupted fill?): choose another --data`);
  log(`filling ${Number(opts.spans).toLocaleString()} spans and 24 h of per-minute rows for ${opts.edges} edges among ${opts.services} services`);
  const nowMs = Date.now();
  const spans = (await worker('fill', dir, opts.spans, String(nowMs))) as { seconds: number };
  const edgeRows = (await worker('fill-graph', dir, opts.services, opts.edges, String(nowMs))) as { seconds: number; rows: Array<{ table: string; rows: string }> };
  const filled: FilledStore = {
    spans: Number(opts.spans),
    services: Number(opts.services),
    edges: Number(opts.edges),
    nowMs,
    fillSeconds: Math.round(spans.seconds + edgeRows.seconds),
    edgeRows: edgeRows.rows,
  };
  writeFileSync(marker, JSON.stringify(filled));
  return filled;
}

/**
 * Times one request to each URL, in order (as `timed` does for one URL), and the CPU meshlens spent per
 * request: on this shared 2-core machine wall times move with whatever else runs, CPU time much less.
 */
async function timedUrls(pid: number, urls: string[]): Promise<{ minMs: number; medianMs: number; p95Ms: number; cpuMsPerRequest: number }> {
  const cpuBefore = processStats(pid).cpuSeconds;
  const times: number[] = [];
  for (const url of urls) {
    const started = performance.now();
    const response = await fetch(url);
    await response.arrayBuffer();
    if (!response.ok) throw new Error(`${url} answered ${response.status}`);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const cpuMsPerRequest = Math.round(((processStats(pid).cpuSeconds - cpuBefore) * 1000) / urls.length);
  const at = (q: number) => Math.round(times[Math.min(times.length - 1, Math.floor(q * times.length))]! * 10) / 10;
  return { minMs: at(0), medianMs: at(0.5), p95Ms: at(0.95), cpuMsPerRequest };
}

/** The API on a filled store, from a meshlens started from `root` (this checkout, or a worktree to compare with). */
async function measureApi(dir: string, now: number, root = ROOT) {
  const m = await startMeshlens(dir, { root });
  const base = `http://127.0.0.1:${m.queryPort}`;
  // Which rows a window reads depends on where it falls against the clock (whole hours from edges_1h, whole
  // ten-minute blocks and the partial ones at its ends from edges_10m_parts), so the ten runs end at ten
  // consecutive minutes (and a second apart): every position within ten minutes.
  const ends = Array.from({ length: 10 }, (_, i) => now - 10 * 60_000 - i * 61_000);
  const graph = (hours: number) => ends.map((end) => `${base}/api/v1/service-graph?start=${end - hours * 3_600_000}&end=${end}`);
  // A server in use answers the graph again and again (the UI and Grafana refresh it): measured warm, one
  // round of every window first, then several rounds, so a burst of load on this shared machine moves the
  // median less.
  const rounds = (hours: number) => Array.from({ length: Number(opts.rounds) }, () => graph(hours)).flat();
  await timedUrls(m.child.pid!, [...graph(1), ...graph(24)]);
  const graph1h = await timedUrls(m.child.pid!, rounds(1));
  const graph24h = await timedUrls(m.child.pid!, rounds(24));
  const one = (await (await fetch(graph(1)[0]!)).json()) as { nodes: unknown[]; edges: Array<{ source: string; target: string }> };
  const edge = one.edges[0]!;
  const latency1h = await timed(`${base}/api/v1/latency?start=${ends[0]! - 3_600_000}&end=${ends[0]!}&source=${encodeURIComponent(edge.source)}&target=${encodeURIComponent(edge.target)}`, 10);
  await stopMeshlens(m);
  return {
    graphFromRollup: { window1h: { ...graph1h, nodes: one.nodes.length, edges: one.edges.length }, window24h: graph24h },
    latencyOneEdge1h: latency1h,
  };
}

/**
 * This checkout against git revision `rev` on the same store: runs alternate, and which side goes first
 * alternates too. Reports each side's medians run by run and their mean.
 */
async function compare(dir: string, now: number, rev: string) {
  const tree = mkdtempSync(join(tmpdir(), 'meshlens-bench-against-'));
  execFileSync('git', ['-C', ROOT, 'worktree', 'add', '--detach', tree, rev], { stdio: 'ignore' });
  try {
    symlinkSync(join(ROOT, 'node_modules'), join(tree, 'node_modules'));
    if (existsSync(join(ROOT, 'ui/dist')) && !existsSync(join(tree, 'ui/dist'))) symlinkSync(join(ROOT, 'ui/dist'), join(tree, 'ui/dist'));
    const sides = { thisCheckout: ROOT, [rev]: tree };
    const medians: Record<string, { window1h: number[]; window24h: number[]; cpu1h: number[] }> = {};
    const runs = Number(opts['compare-runs']);
    for (let run = 0; run < runs; run++) {
      const order = Object.entries(sides);
      if (run % 2 === 1) order.reverse();
      for (const [name, root] of order) {
        const { graphFromRollup: g } = await measureApi(dir, now, root);
        const side = (medians[name] ??= { window1h: [], window24h: [], cpu1h: [] });
        side.window1h.push(g.window1h.medianMs);
        side.window24h.push(g.window24h.medianMs);
        side.cpu1h.push(g.window1h.cpuMsPerRequest);
        log(`run ${run + 1}/${runs} ${name}: 1 h median ${g.window1h.medianMs} ms, 24 h ${g.window24h.medianMs} ms`);
      }
    }
    const mean = (xs: number[]) => Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 10) / 10;
    return Object.fromEntries(
      Object.entries(medians).map(([name, m]) => [name, { meanMedian1hMs: mean(m.window1h), meanMedian24hMs: mean(m.window24h), meanCpu1hMs: mean(m.cpu1h), runs: m }]),
    );
  } finally {
    execFileSync('git', ['-C', ROOT, 'worktree', 'remove', '--force', tree], { stdio: 'ignore' });
    rmSync(tree, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const work = opts.data ? undefined : mkdtempSync(join(tmpdir(), 'meshlens-bench-graph-'));
  const dir = opts.data ?? join(work!, 'data');
  try {
    const filled = await fill(dir);
    const now = filled.nowMs;

    type Naive = { edges: number; minMs: number; medianMs: number };
    let naive1h: Naive | undefined;
    let naive24h: Naive | undefined;
    if (!opts['skip-naive']) {
      log('naive self-join over the span table (1 h, then 24 h)');
      naive1h = (await worker('naive-graph', dir, '60', String(now))) as Naive;
      naive24h = (await worker('naive-graph', dir, '1440', String(now))) as Naive;
    }

    log('meshlens API');
    const api = await measureApi(dir, now);
    const comparison = opts.against ? await compare(dir, now, opts.against) : undefined;
    console.log(
      JSON.stringify(
        {
          store: { spans: filled.spans, services: filled.services, edges: filled.edges, fillSeconds: filled.fillSeconds, edgeRows: filled.edgeRows },
          graphFromRollup: api.graphFromRollup,
          latencyOneEdge1h: api.latencyOneEdge1h,
          ...(naive1h && naive24h ? { naiveSelfJoinOverSpans: { window1h: naive1h, window24h: naive24h } } : {}),
          ...(comparison ? { comparison } : {}),
        },
        null,
        2,
      ),
    );
  } finally {
    if (work) rmSync(work, { recursive: true, force: true });
  }
}

await main();
