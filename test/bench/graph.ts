// npm run bench:graph — the service graph API over a large store, against the naive query-time
// CLIENT ⋈ SERVER self-join over the span table measured in the same run.
//
//   --spans N      spans in the span table (default 10,000,000)
//   --services N   services in the edge rows (default 1,000)
//   --edges N      edges, each with traffic every minute of the last 24 h (default 5,000)
//
// The graph's cost on ingest is measured by `npm run bench:ingest` (withServiceGraph).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startMeshlens, stopMeshlens, timed, worker } from './harness.ts';

const { values: opts } = parseArgs({
  options: {
    spans: { type: 'string', default: '10000000' },
    services: { type: 'string', default: '1000' },
    edges: { type: 'string', default: '5000' },
  },
});
const log = (message: string) => process.stderr.write(`[bench:graph] ${message}\n`);

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'meshlens-bench-graph-'));
  const dir = join(work, 'data');
  try {
    log(`filling ${Number(opts.spans).toLocaleString()} spans and 24 h of per-minute rows for ${opts.edges} edges among ${opts.services} services`);
    const spans = (await worker('fill', dir, opts.spans)) as { seconds: number };
    const edgeRows = (await worker('fill-graph', dir, opts.services, opts.edges)) as { seconds: number; rows: Array<{ table: string; rows: string }> };

    log('naive self-join over the span table (1 h, then 24 h)');
    const naive1h = (await worker('naive-graph', dir, '60')) as { edges: number; minMs: number; medianMs: number };
    const naive24h = (await worker('naive-graph', dir, '1440')) as { edges: number; minMs: number; medianMs: number };

    log('meshlens API');
    const m = await startMeshlens(dir);
    const base = `http://127.0.0.1:${m.queryPort}`;
    const now = Date.now();
    await timed(`${base}/api/v1/service-graph?start=${now - 3_600_000}`, 2); // warm-up
    const graph1h = await timed(`${base}/api/v1/service-graph?start=${now - 3_600_000}&end=${now}`, 10);
    const graph24h = await timed(`${base}/api/v1/service-graph?start=${now - 86_400_000}&end=${now}`, 10);
    const one = (await (await fetch(`${base}/api/v1/service-graph?start=${now - 3_600_000}&end=${now}`)).json()) as { nodes: unknown[]; edges: Array<{ source: string; target: string }> };
    const edge = one.edges[0]!;
    const latency1h = await timed(`${base}/api/v1/latency?start=${now - 3_600_000}&end=${now}&source=${encodeURIComponent(edge.source)}&target=${encodeURIComponent(edge.target)}`, 10);
    await stopMeshlens(m);

    console.log(
      JSON.stringify(
        {
          store: { spans: Number(opts.spans), services: Number(opts.services), edges: Number(opts.edges), fillSeconds: Math.round(spans.seconds + edgeRows.seconds), edgeRows: edgeRows.rows },
          graphFromRollup: { window1h: { ...graph1h, nodes: one.nodes.length, edges: one.edges.length }, window24h: graph24h },
          latencyOneEdge1h: latency1h,
          naiveSelfJoinOverSpans: { window1h: naive1h, window24h: naive24h },
        },
        null,
        2,
      ),
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
