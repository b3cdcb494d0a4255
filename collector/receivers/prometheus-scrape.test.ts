// The scraper against real HTTP servers on loopback: what one scrape sends and reads (Accept, gzip,
// OpenMetrics, limits, timeouts, errors), and how the scheduler behaves over time (targets spread over the
// interval, the concurrency bound, health metrics, one log line per state change, stop aborting scrapes).
import assert from 'node:assert/strict';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import type { FastifyBaseLogger } from 'fastify';
import { pino } from 'pino';
import { CollectorMetrics } from '../metrics.ts';
import type { SampleBatch } from '../prometheus/samples.ts';
import { PrometheusScraper, SCRAPE_ACCEPT, type ScrapeTarget, scrapeTarget, seriesBornSince } from './prometheus-scrape.ts';

type Handler = (request: IncomingMessage, response: ServerResponse) => void;

let server: Server;
let base: string;
const handlers = new Map<string, Handler>();
const seen: { path: string; headers: IncomingMessage['headers']; atMs: number }[] = [];

before(async () => {
  server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    seen.push({ path, headers: request.headers, atMs: Date.now() });
    const handler = handlers.get(path) ?? [...handlers.entries()].find(([prefix]) => prefix.endsWith('*') && path.startsWith(prefix.slice(0, -1)))?.[1];
    if (handler) handler(request, response);
    else {
      response.writeHead(404);
      response.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const target = (path: string, labels: Record<string, string> = {}): ScrapeTarget => ({ url: `${base}${path}`, labels, origin: 'static' });
const text = (body: string, contentType = 'text/plain; version=0.0.4; charset=utf-8'): Handler => (_, response) => {
  response.writeHead(200, { 'content-type': contentType });
  response.end(body);
};
const hang: Handler = () => undefined;
const options = { timeoutMs: 500, maxBodyBytes: 1 << 20 };

describe('scrapeTarget', () => {
  it('asks for OpenMetrics first, sends the timeout, and returns the samples as a batch from the target', async () => {
    handlers.set('/metrics', text('# TYPE request_total counter\nrequest_total{direction="outbound"} 12\n'));
    const result = await scrapeTarget(target('/metrics', { workload: 'productpage-v1', namespace: 'bookinfo' }), options);
    assert.ok(result.ok, JSON.stringify(result));
    const request = seen.at(-1)!;
    assert.equal(request.headers.accept, SCRAPE_ACCEPT);
    assert.match(SCRAPE_ACCEPT, /^application\/openmetrics-text;version=1\.0\.0,.*text\/plain;version=0\.0\.4;q=0\.5/);
    assert.equal(request.headers['x-prometheus-scrape-timeout-seconds'], '0.5');
    assert.match(String(request.headers['accept-encoding']), /gzip/);
    assert.equal(result.batch.source, `${base}/metrics`);
    assert.deepEqual(result.batch.reporter, { workload: 'productpage-v1', namespace: 'bookinfo' });
    assert.deepEqual(result.batch.samples, [{ name: 'request_total', labels: { direction: 'outbound' }, value: 12 }]);
    assert.ok(Math.abs(result.batch.receivedAtMs - Date.now()) < 1000);
    assert.equal(result.badLines, 0);
  });

  it('reads a gzipped OpenMetrics body (timestamps in seconds) and counts bad lines without losing the good ones', async () => {
    const body = '# TYPE a counter\na_total 3 1700000000.5\nthis is garbage\na_created 1699990000\nb{x="1"} 4\n# EOF\n';
    handlers.set('/om', (_, response) => {
      response.writeHead(200, { 'content-type': 'application/openmetrics-text; version=1.0.0; charset=utf-8', 'content-encoding': 'gzip' });
      response.end(gzipSync(body));
    });
    const result = await scrapeTarget(target('/om'), options);
    assert.ok(result.ok, JSON.stringify(result));
    assert.deepEqual(result.batch.samples, [
      { name: 'a_total', labels: {}, value: 3, timestampMs: 1_700_000_000_500 },
      { name: 'b', labels: { x: '1' }, value: 4 },
    ]);
    assert.equal(result.badLines, 1);
    assert.equal(result.firstErrors[0]?.line, 3);
  });

  it('fails a target that answers 500, one that hangs (aborted at the timeout), one too large, one refused', async () => {
    handlers.set('/500', (_, response) => {
      response.writeHead(500);
      response.end('oops');
    });
    handlers.set('/hang', hang);
    handlers.set('/large', text('a 1\n'.repeat(2000)));
    handlers.set('/large-chunked', (_, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' });
      for (let i = 0; i < 100; i++) response.write('a 1\n'.repeat(20));
      response.end();
    });
    const limited = { ...options, maxBodyBytes: 4000 };
    const http500 = await scrapeTarget(target('/500'), limited);
    assert.deepEqual([http500.ok, !http500.ok && http500.reason, !http500.ok && http500.message], [false, 'http_status', 'HTTP 500']);
    const started = Date.now();
    const hung = await scrapeTarget(target('/hang'), { ...limited, timeoutMs: 200 });
    const waited = Date.now() - started;
    assert.ok(!hung.ok && hung.reason === 'timeout', JSON.stringify(hung));
    assert.ok(waited >= 190 && waited < 1000, `aborted after ${waited} ms`);
    for (const path of ['/large', '/large-chunked']) {
      const large = await scrapeTarget(target(path), limited);
      assert.ok(!large.ok && large.reason === 'too_large', `${path}: ${JSON.stringify(large)}`);
    }
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refused = await scrapeTarget({ url: `http://127.0.0.1:${port}/metrics`, labels: {}, origin: 'static' }, limited);
    assert.deepEqual(!refused.ok && [refused.reason, refused.message], ['network', 'ECONNREFUSED']);
  });
});

/** A logger whose lines the test can read. */
function capturingLog(): { log: FastifyBaseLogger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) });
  return { log: log as unknown as FastifyBaseLogger, lines };
}

async function metricValues(metrics: CollectorMetrics, name: keyof CollectorMetrics): Promise<{ labels: Record<string, string | number>; value: number }[]> {
  const metric = metrics[name] as unknown as { get(): Promise<{ values: { labels: Record<string, string | number>; value: number }[] }> };
  return (await metric.get()).values;
}

const until = async (condition: () => boolean | Promise<boolean>, timeoutMs = 5000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('PrometheusScraper', () => {
  it('tracks health per target and logs a state change once, not every interval', async () => {
    let failing = true;
    let scrapes = 0;
    handlers.set('/flaky', (_, response) => {
      scrapes++;
      response.writeHead(failing ? 503 : 200, { 'content-type': 'text/plain' });
      response.end(failing ? 'no' : 'x 1\ny 2\nnot a sample\n');
    });
    const { log, lines } = capturingLog();
    const metrics = new CollectorMetrics({ processMetrics: false });
    const batches: SampleBatch[] = [];
    const scraper = new PrometheusScraper({ intervalMs: 100, timeoutMs: 80, maxBodyBytes: 1 << 20, concurrency: 2, onBatch: (b) => batches.push(b) }, metrics, log);
    const flaky = target('/flaky', { workload: 'w' });
    scraper.setTargets('static', [flaky]);
    scraper.start();
    try {
      await until(() => scrapes >= 4);
      const up = await metricValues(metrics, 'scrapeTargetUp');
      assert.deepEqual(up, [{ labels: { target: flaky.url, origin: 'static' }, value: 0 }]);
      assert.deepEqual((await metricValues(metrics, 'scrapeLastError')).map((v) => v.labels), [{ target: flaky.url, reason: 'http_status', message: 'HTTP 503' }]);
      failing = false;
      await until(() => batches.length >= 3);
      failing = true;
      await until(async () => (await metricValues(metrics, 'scrapeTargetUp'))[0]?.value === 0);
      await until(() => scrapes >= 12);
      failing = false;
      await until(async () => (await metricValues(metrics, 'scrapeTargetUp'))[0]?.value === 1);
    } finally {
      await scraper.stop();
    }
    const transitions = lines.flatMap((l) => {
      if (l.msg === `scrape target ${flaky.url} is down: http_status: HTTP 503` && l.level === 40) return ['down'];
      if (l.msg === `scrape target ${flaky.url} is up again` && l.level === 30) return ['up'];
      if (l.msg.startsWith(`scrape target ${flaky.url}: 1 line(s) could not be parsed and were skipped (first: line 3: `) && l.level === 40) return ['bad-lines'];
      return [];
    });
    // The bad lines are logged when first seen, not again while they persist (a failure in between changes nothing).
    assert.deepEqual(transitions, ['down', 'up', 'bad-lines', 'down', 'up'], lines.map((l) => l.msg).join('\n'));
    assert.equal(lines.length, transitions.length, 'nothing else logged');
    assert.equal(batches[0]!.samples.length, 2);
    assert.deepEqual(batches[0]!.reporter, { workload: 'w' });
    assert.deepEqual((await metricValues(metrics, 'scrapeLastError')), [], 'no error series once the target is up');
    assert.deepEqual((await metricValues(metrics, 'scrapeBadLines')).map((v) => v.value), [1]);
    const results = new Map((await metricValues(metrics, 'scrapes')).map((v) => [v.labels.result, v.value]));
    assert.ok((results.get('ok') ?? 0) >= 4 && (results.get('http_status') ?? 0) >= 8, JSON.stringify([...results]));
  });

  it('spreads targets over the interval and keeps at most `concurrency` scrapes in flight', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const firstScrapeAt = new Map<string, number>();
    handlers.set('/spread/*', (request, response) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      if (!firstScrapeAt.has(request.url!)) firstScrapeAt.set(request.url!, Date.now());
      setTimeout(() => {
        inFlight--;
        response.writeHead(200, { 'content-type': 'text/plain' });
        response.end('up 1\n');
      }, 15);
    });
    const metrics = new CollectorMetrics({ processMetrics: false });
    const scraper = new PrometheusScraper({ intervalMs: 1000, timeoutMs: 900, maxBodyBytes: 1 << 20, concurrency: 3, onBatch: () => undefined }, metrics, capturingLog().log);
    const targets = Array.from({ length: 60 }, (_, i) => target(`/spread/${i}`, { workload: `w${i}` }));
    scraper.setTargets('static', targets);
    const startedAt = Date.now();
    scraper.start();
    try {
      await until(() => firstScrapeAt.size === targets.length, 4000);
    } finally {
      await scraper.stop();
    }
    assert.ok(maxInFlight <= 3, `at most 3 in flight, saw ${maxInFlight}`);
    // 60 targets at hashed offsets: spread over the second, not fired at once.
    const perTenth = new Array<number>(10).fill(0);
    for (const at of firstScrapeAt.values()) perTenth[Math.min(9, Math.floor((at - startedAt) / 100))]!++;
    assert.ok(Math.max(...perTenth) <= 20, `targets per 100 ms of the interval: ${perTenth}`);
    assert.ok(perTenth.filter((n) => n > 0).length >= 6, `targets per 100 ms of the interval: ${perTenth}`);
    assert.deepEqual(await metricValues(metrics, 'scrapeTargets'), [
      { labels: { origin: 'static' }, value: 60 },
      { labels: { origin: 'kubernetes' }, value: 0 },
    ]);
  });

  it('replaces targets per origin (a URL from config wins), forgets a removed target\'s series, and stop() aborts a hanging scrape', async () => {
    handlers.set('/a', text('a 1\n'));
    handlers.set('/hang', hang);
    const metrics = new CollectorMetrics({ processMetrics: false });
    const scraper = new PrometheusScraper({ intervalMs: 100, timeoutMs: 100, maxBodyBytes: 1 << 20, concurrency: 4, onBatch: () => undefined }, metrics, capturingLog().log);
    scraper.setTargets('kubernetes', [{ ...target('/a', { workload: 'from-pod' }), origin: 'kubernetes' }, { ...target('/gone'), origin: 'kubernetes' }]);
    scraper.setTargets('static', [target('/a', { workload: 'from-config' })]);
    assert.deepEqual(scraper.targets.map((t) => [t.url.slice(base.length), t.origin, t.labels.workload]).sort(), [['/a', 'static', 'from-config'], ['/gone', 'kubernetes', undefined]]);
    scraper.start();
    await until(async () => (await metricValues(metrics, 'scrapeTargetUp')).length === 2);
    scraper.setTargets('kubernetes', [{ ...target('/hang'), origin: 'kubernetes' }]);
    assert.deepEqual((await metricValues(metrics, 'scrapeTargetUp')).map((v) => String(v.labels.target).slice(base.length)), ['/a'], 'the removed target has no series left');
    const hangs = seen.filter((s) => s.path === '/hang').length;
    await until(() => seen.filter((s) => s.path === '/hang').length > hangs);
    const stopping = Date.now();
    await scraper.stop();
    assert.ok(Date.now() - stopping < 100, 'stop() does not wait for the scrape timeout');
  });
});

describe('seriesBornSince', () => {
  it('gives the series a scrape has and the previous one had not, at 0 as of the previous scrape', async () => {
    handlers.set('/born', text('# TYPE response_total counter\nresponse_total{b="2",a="1",status_code="200"} 10\n'));
    const metrics = new CollectorMetrics({ processMetrics: false });
    const batches: SampleBatch[] = [];
    const scraper = new PrometheusScraper({ intervalMs: 100, timeoutMs: 80, maxBodyBytes: 1 << 20, concurrency: 1, onBatch: (b) => batches.push(b) }, metrics, capturingLog().log);
    scraper.setTargets('static', [target('/born', { workload: 'w' })]);
    scraper.start();
    try {
      await until(() => batches.length >= 1);
      // Same series with its labels in another order, and a new one: only the new one is born.
      handlers.set('/born', text('response_total{status_code="200",a="1",b="2"} 12\nresponse_total{a="1",b="2",status_code="500"} 3\n'));
      await until(() => batches.some((b) => b.samples.length === 2));
    } finally {
      await scraper.stop();
    }
    // The batch of the new page is preceded by the born series at 0, as of the scrape before.
    const page = batches.findIndex((b) => b.samples.length === 2);
    assert.ok(page >= 2, JSON.stringify(batches));
    assert.deepEqual(batches[page - 1], {
      source: `${base}/born`,
      reporter: { workload: 'w' },
      samples: [{ name: 'response_total', labels: { a: '1', b: '2', status_code: '500' }, value: 0 }],
      receivedAtMs: batches[page - 2]!.receivedAtMs,
      labelsReused: true,
    });
    assert.deepEqual(batches[page]!.samples.map((s) => s.value), [12, 3]);
    assert.equal(batches.filter((b) => b.samples.every((s) => s.value === 0)).length, 1, 'nothing else is born');
    assert.equal(seriesBornSince({ hashes: new Uint32Array(), atMs: 1 }, { source: 's', samples: [], receivedAtMs: 2 }), undefined);
  });
});
