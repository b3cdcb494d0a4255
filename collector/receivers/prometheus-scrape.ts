// Prometheus scraping: every target (from scrape.targets and from Kubernetes pod discovery) is fetched
// once per scrape.interval, its body parsed (text 0.0.4 or OpenMetrics) and handed on as one SampleBatch
// (source = the target URL, reporter = the target's labels: who the proxy is, since the series don't say).
//
// Spreading: each target has a fixed offset inside the interval, from a hash of its URL (as Prometheus
// does), so 1,000 targets are not fetched in the same instant and each keeps an even spacing. At most
// scrape.concurrency scrapes are in flight; a target whose previous scrape is still running skips its slot.
// Each scrape is aborted after scrape.timeout (AbortController); a body past scrape.max_body_bytes is cut
// off. Health per target is in meshlens' own metrics; a target going down (or coming back) is logged
// once per change, not every interval.
import { setMaxListeners } from 'node:events';
import type { FastifyBaseLogger } from 'fastify';
import type { ScrapeConfig } from '../config.ts';
import type { EdgeSink } from '../edge-sink.ts';
import type { CollectorMetrics } from '../metrics.ts';
import { KubernetesDiscovery, kubernetesApiFromEnvironment } from '../prometheus/kubernetes.ts';
import { PrometheusEdgeConverter, readsSample } from '../prometheus/mesh-series.ts';
import type { PromSample, SampleBatch } from '../prometheus/samples.ts';
import { type ParseError, SeriesTexts, formatOf, parseExposition } from '../prometheus/text-format.ts';

export type TargetOrigin = 'static' | 'kubernetes';

export interface ScrapeTarget {
  url: string;
  /** Who the target is (workload, namespace, mesh, pod, …): the batch's reporter. */
  labels: Readonly<Record<string, string>>;
  origin: TargetOrigin;
}

export type ScrapeFailureReason = 'timeout' | 'http_status' | 'network' | 'too_large';

export type ScrapeResult =
  | { ok: true; batch: SampleBatch; badLines: number; firstErrors: ParseError[]; durationMs: number; skipped: number }
  | { ok: false; reason: ScrapeFailureReason; message: string; durationMs: number };

export interface ScrapeOptions {
  timeoutMs: number;
  maxBodyBytes: number;
  /** Aborts the scrape from outside (shutdown). */
  signal?: AbortSignal;
  /** Samples of other names are only counted (`skipped`), their labels never read. Default: all are read. */
  reads?: (name: string) => boolean;
  /** The target's series from its previous scrape: lines printed as then are not parsed again (parseExposition). */
  series?: SeriesTexts;
}

/**
 * The scraper's stop signal. Every scrape in flight (up to scrape.concurrency) listens on it for as long as
 * it runs, so Node's default warning at 10 listeners would only be noise.
 */
function stopSignal(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

/** OpenMetrics first, then the text format, then anything (as Prometheus asks). */
export const SCRAPE_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

/** One scrape of one target: fetch (gzip is undone by fetch), read at most maxBodyBytes, parse. */
export async function scrapeTarget(target: ScrapeTarget, options: ScrapeOptions): Promise<ScrapeResult> {
  const started = performance.now();
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort();
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, options.timeoutMs);
  const failed = (reason: ScrapeFailureReason, message: string): ScrapeResult => ({ ok: false, reason, message, durationMs: performance.now() - started });
  try {
    const response = await fetch(target.url, {
      signal: controller.signal,
      headers: {
        accept: SCRAPE_ACCEPT,
        'user-agent': 'meshlens',
        'x-prometheus-scrape-timeout-seconds': String(options.timeoutMs / 1000),
      },
      redirect: 'follow',
    });
    if (!response.ok) {
      await response.body?.cancel().catch(() => undefined);
      return failed('http_status', `HTTP ${response.status}`);
    }
    const body = await readLimited(response, options.maxBodyBytes);
    if (body === undefined) {
      controller.abort();
      return failed('too_large', `body larger than ${options.maxBodyBytes} bytes`);
    }
    const receivedAtMs = Date.now();
    const parsed = parseExposition(body, { format: formatOf(response.headers.get('content-type')), maxErrorDetails: 3, ...(options.reads ? { reads: options.reads } : {}), ...(options.series ? { series: options.series } : {}) });
    return {
      ok: true,
      batch: { source: target.url, reporter: target.labels, samples: parsed.samples, receivedAtMs, ...(options.series ? { labelsReused: true } : {}) },
      badLines: parsed.errorCount,
      firstErrors: parsed.errors,
      durationMs: performance.now() - started,
      skipped: parsed.skipped,
    };
  } catch (error) {
    if (timedOut) return failed('timeout', `no complete answer within ${options.timeoutMs}ms`);
    if (controller.signal.aborted) return failed('network', 'aborted (stopping)');
    return failed('network', networkMessage(error));
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onOuterAbort);
  }
}

/** The body as text, or undefined when it passes `limit` bytes (the stream is cancelled there). */
async function readLimited(response: Response, limit: number): Promise<string | undefined> {
  const declared = Number(response.headers.get('content-length'));
  // Content-Length counts compressed bytes when gzipped: only an uncompressed one decides early.
  if (!response.headers.get('content-encoding') && Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel().catch(() => undefined);
    return undefined;
  }
  if (!response.body) return '';
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const parts: string[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    parts.push(decoder.decode(value, { stream: true }));
  }
  parts.push(decoder.decode());
  return parts.join('');
}

/** fetch wraps the socket error in `cause`: that is the line worth showing (ECONNREFUSED, ENOTFOUND, …). */
function networkMessage(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return cause.code;
  return (cause?.message ?? (error as Error).message ?? String(error)).split('\n')[0]!;
}

/** FNV-1a: a stable offset per URL, so a target keeps its place in the interval across restarts. */
function hash32(text: string, seed = 0x811c9dc5): number {
  let hash = seed;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * A 32-bit identity of a series (name + label set, label order not significant): what a target exposed at
 * its last scrape is kept as a sorted array of these, 4 bytes a series.
 */
function seriesHash(sample: PromSample): number {
  let labelsHash = labelHashes.get(sample.labels);
  if (labelsHash === undefined) {
    labelsHash = 0;
    for (const name in sample.labels) labelsHash = (labelsHash + mix(hash32(sample.labels[name]!, hash32(name) ^ 0xff))) >>> 0;
    labelHashes.set(sample.labels, labelsHash);
  }
  return (hash32(sample.name) ^ Math.imul(labelsHash, 0x9e3779b1)) >>> 0;
}

/** Label sets hashed already: a target's unchanged lines come back as the same objects (SeriesTexts). */
const labelHashes = new WeakMap<PromSample['labels'], number>();

/** Spreads a hash's bits so that summing several stays well distributed. */
function mix(hash: number): number {
  let h = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The series of a scrape as sorted seriesHash()es: what the next scrape's seriesBornSince() compares with. */
export function sortedHashes(samples: readonly PromSample[]): Uint32Array {
  const hashes = new Uint32Array(samples.length);
  for (let i = 0; i < samples.length; i++) hashes[i] = seriesHash(samples[i]!);
  return hashes.sort();
}

function includesHash(sorted: Uint32Array, hash: number): boolean {
  let low = 0;
  let high = sorted.length - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const value = sorted[middle]!;
    if (value === hash) return true;
    if (value < hash) low = middle + 1;
    else high = middle - 1;
  }
  return false;
}

/**
 * The series of `batch` that `previous` (the target's last successful scrape) did not have, at value 0 as
 * of that scrape. A counter that appears between two scrapes was created since the first (Linkerd and
 * prom-client create a labelled series at its first increment: the first 5xx of a route, a new peer), so
 * its whole value is traffic of this interval; without this it would be a baseline and those calls lost.
 */
export function seriesBornSince(previous: { hashes: Uint32Array; atMs: number }, batch: SampleBatch): SampleBatch | undefined {
  const zeros: PromSample[] = [];
  for (const sample of batch.samples) {
    if (includesHash(previous.hashes, seriesHash(sample))) continue;
    const zero: { name: string; labels: PromSample['labels']; value: number; timestampMs?: number } = { name: sample.name, labels: sample.labels, value: 0 };
    if (sample.timestampMs !== undefined) zero.timestampMs = Math.min(previous.atMs, sample.timestampMs - 1);
    zeros.push(zero);
  }
  if (zeros.length === 0) return undefined;
  return { source: batch.source, ...(batch.reporter ? { reporter: batch.reporter } : {}), samples: zeros, receivedAtMs: previous.atMs, ...(batch.labelsReused ? { labelsReused: true } : {}) };
}

/** Bounds scrapes in flight; waiters are served in arrival order. */
class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];

  constructor(size: number) {
    this.free = size;
  }

  acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

type Health = 'unknown' | 'up' | 'down';

interface TargetState {
  target: ScrapeTarget;
  offsetMs: number;
  timer: NodeJS.Timeout | undefined;
  running: Promise<void> | undefined;
  health: Health;
  /** Whether the last successful scrape had unparseable lines (logged once per change). */
  hadBadLines: boolean;
  /** Labels of the meshlens_scrape_last_error series currently set, to remove it on recovery. */
  errorLabels: { reason: string; message: string } | undefined;
  /** The series of the last successful scrape, and when it was: new series since then count from 0. */
  lastSeries: { hashes: Uint32Array; atMs: number } | undefined;
  /** The same series as printed: unchanged lines are not parsed again. */
  seriesTexts: SeriesTexts;
  removed: boolean;
}

export interface ScraperOptions {
  intervalMs: number;
  timeoutMs: number;
  maxBodyBytes: number;
  concurrency: number;
  /** Only samples of these names are read (the rest are counted as skipped); default all. */
  reads?: (name: string) => boolean;
  /** Series kept as printed (SeriesTexts), all targets together; default unbounded. */
  maxKnownSeries?: number;
  /** Receives every successful scrape's samples (turned into edges by the caller). */
  onBatch: (batch: SampleBatch) => void;
}

export class PrometheusScraper {
  private readonly states = new Map<string, TargetState>();
  private readonly byOrigin: Record<TargetOrigin, ScrapeTarget[]> = { static: [], kubernetes: [] };
  private readonly slots: Slots;
  private readonly stopping = stopSignal();
  /** Room left for series kept as printed, shared by every target's SeriesTexts. */
  private readonly knownSeriesBudget: { left: number };
  private started = false;

  constructor(
    private readonly options: ScraperOptions,
    private readonly metrics: CollectorMetrics,
    private readonly log: FastifyBaseLogger,
  ) {
    this.slots = new Slots(options.concurrency);
    this.knownSeriesBudget = { left: options.maxKnownSeries ?? Number.POSITIVE_INFINITY };
  }

  /** Targets being scraped now (a URL from scrape.targets wins over the same URL from discovery). */
  get targets(): ScrapeTarget[] {
    return [...this.states.values()].map((state) => state.target);
  }

  /** Replaces the targets of one origin; unchanged ones keep their schedule and health. */
  setTargets(origin: TargetOrigin, targets: readonly ScrapeTarget[]): void {
    this.byOrigin[origin] = targets.map((target) => ({ ...target, origin }));
    const wanted = new Map<string, ScrapeTarget>();
    for (const target of this.byOrigin.kubernetes) wanted.set(target.url, target);
    for (const target of this.byOrigin.static) wanted.set(target.url, target);
    for (const [url, state] of this.states) {
      const next = wanted.get(url);
      if (!next) this.remove(state);
      else if (!sameTarget(state.target, next)) {
        this.clearSeries(state);
        state.target = next;
      }
    }
    for (const [url, target] of wanted) {
      if (this.states.has(url)) continue;
      const state: TargetState = {
        target,
        offsetMs: hash32(url) % this.options.intervalMs,
        timer: undefined,
        running: undefined,
        health: 'unknown',
        hadBadLines: false,
        errorLabels: undefined,
        lastSeries: undefined,
        seriesTexts: new SeriesTexts(this.knownSeriesBudget),
        removed: false,
      };
      this.states.set(url, state);
      if (this.started) this.schedule(state);
    }
    for (const o of ['static', 'kubernetes'] as const) {
      this.metrics.scrapeTargets.set({ origin: o }, [...this.states.values()].filter((s) => s.target.origin === o).length);
    }
  }

  start(): void {
    this.started = true;
    for (const state of this.states.values()) this.schedule(state);
  }

  /** Stops scheduling, aborts scrapes in flight and waits for them to end. */
  async stop(): Promise<void> {
    this.started = false;
    this.stopping.abort();
    const running: Promise<void>[] = [];
    for (const state of this.states.values()) {
      clearTimeout(state.timer);
      if (state.running) running.push(state.running);
    }
    await Promise.all(running);
  }

  /** The next slot of this target (its offset inside the interval) strictly after `after`. */
  private schedule(state: TargetState, after = Date.now()): void {
    if (!this.started || state.removed) return;
    const { intervalMs } = this.options;
    const now = Date.now();
    let nextAt = after - (after % intervalMs) + state.offsetMs;
    if (nextAt <= after) nextAt += intervalMs;
    state.timer = setTimeout(() => this.tick(state), nextAt - now);
    state.timer.unref();
  }

  private tick(state: TargetState): void {
    // Half an interval on: a timer firing a little early must not find this same slot again.
    this.schedule(state, Date.now() + this.options.intervalMs / 2);
    if (state.running) {
      this.metrics.scrapes.inc({ result: 'skipped' });
      return;
    }
    state.running = this.run(state).finally(() => {
      state.running = undefined;
    });
  }

  private async run(state: TargetState): Promise<void> {
    await this.slots.acquire();
    try {
      if (state.removed || this.stopping.signal.aborted) return;
      const result = await scrapeTarget(state.target, {
        timeoutMs: this.options.timeoutMs,
        maxBodyBytes: this.options.maxBodyBytes,
        signal: this.stopping.signal,
        series: state.seriesTexts,
        ...(this.options.reads ? { reads: this.options.reads } : {}),
      });
      if (state.removed) state.seriesTexts.clear(); // removed while this scrape ran: give back what it kept
      if (state.removed || this.stopping.signal.aborted) return;
      this.record(state, result);
      if (result.ok) {
        const previous = state.lastSeries;
        state.lastSeries = { hashes: sortedHashes(result.batch.samples), atMs: result.batch.receivedAtMs };
        try {
          const born = previous && seriesBornSince(previous, result.batch);
          if (born) this.options.onBatch(born);
          this.options.onBatch(result.batch);
        } catch (error) {
          this.log.error({ err: error, target: state.target.url }, 'scraped samples could not be turned into edges');
        }
      }
    } finally {
      this.slots.release();
    }
  }

  private record(state: TargetState, result: ScrapeResult): void {
    const { url } = state.target;
    const target = { target: url };
    this.metrics.scrapeDurationSeconds.set(target, result.durationMs / 1000);
    this.metrics.scrapes.inc({ result: result.ok ? 'ok' : result.reason });
    this.metrics.scrapeTargetUp.set({ target: url, origin: state.target.origin }, result.ok ? 1 : 0);
    if (result.ok) {
      this.metrics.scrapeSamples.set(target, result.batch.samples.length + result.skipped);
      // Samples no mesh rule reads were not even parsed: skipped here, as the converter would have.
      if (result.skipped > 0) this.metrics.scrapeSeries.inc({ result: 'skipped' }, result.skipped);
      this.metrics.scrapeBadLines.set(target, result.badLines);
      if (state.errorLabels) this.metrics.scrapeLastError.remove({ ...target, ...state.errorLabels });
      state.errorLabels = undefined;
      if (state.health === 'down') this.log.info({ target: url, labels: state.target.labels }, `scrape target ${url} is up again`);
      state.health = 'up';
      const hasBadLines = result.badLines > 0;
      if (hasBadLines && !state.hadBadLines) {
        const first = result.firstErrors[0];
        this.log.warn(
          { target: url, badLines: result.badLines, firstError: first },
          `scrape target ${url}: ${result.badLines} line(s) could not be parsed and were skipped (first: line ${first?.line}: ${first?.message})`,
        );
      }
      state.hadBadLines = hasBadLines;
      return;
    }
    const errorLabels = { reason: result.reason, message: result.message };
    if (state.errorLabels && (state.errorLabels.reason !== errorLabels.reason || state.errorLabels.message !== errorLabels.message)) {
      this.metrics.scrapeLastError.remove({ ...target, ...state.errorLabels });
    }
    this.metrics.scrapeLastError.set({ ...target, ...errorLabels }, 1);
    if (state.health !== 'down') {
      this.log.warn({ target: url, labels: state.target.labels, reason: result.reason }, `scrape target ${url} is down: ${result.reason}: ${result.message}`);
    }
    state.errorLabels = errorLabels;
    state.health = 'down';
  }

  private remove(state: TargetState): void {
    state.removed = true;
    clearTimeout(state.timer);
    state.seriesTexts.clear();
    this.clearSeries(state);
    this.states.delete(state.target.url);
  }

  /** Forgets a target's health series (it went away, or its labels/origin changed). */
  private clearSeries(state: TargetState): void {
    const target = { target: state.target.url };
    this.metrics.scrapeTargetUp.remove({ ...target, origin: state.target.origin });
    this.metrics.scrapeDurationSeconds.remove(target);
    this.metrics.scrapeSamples.remove(target);
    this.metrics.scrapeBadLines.remove(target);
    if (state.errorLabels) this.metrics.scrapeLastError.remove({ ...target, ...state.errorLabels });
    state.errorLabels = undefined;
  }
}

function sameTarget(a: ScrapeTarget, b: ScrapeTarget): boolean {
  if (a.origin !== b.origin) return false;
  const aKeys = Object.keys(a.labels);
  if (aKeys.length !== Object.keys(b.labels).length) return false;
  return aKeys.every((key) => a.labels[key] === b.labels[key]);
}

/**
 * The scrape receiver as the collector runs it: configured targets, Kubernetes discovery when enabled
 * (or `auto` and in a cluster), and every scrape's samples through the mesh-series converter into edges
 * (signal `prometheus`).
 */
export class PrometheusScrapeReceiver {
  readonly scraper: PrometheusScraper;
  readonly converter: PrometheusEdgeConverter;
  readonly discovery: KubernetesDiscovery | undefined;
  private staleTimer: NodeJS.Timeout | undefined;
  private droppedLoggedAtMs = Number.NEGATIVE_INFINITY;

  /** `labelCardinality` (limits.label_cardinality): series whose counter state is kept, all targets together. */
  constructor(
    config: ScrapeConfig,
    labelCardinality: number,
    edges: EdgeSink,
    private readonly metrics: CollectorMetrics,
    private readonly log: FastifyBaseLogger,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.converter = new PrometheusEdgeConverter({ maxSeries: labelCardinality });
    this.scraper = new PrometheusScraper(
      { intervalMs: config.intervalMs, timeoutMs: config.timeoutMs, maxBodyBytes: config.maxBodyBytes, concurrency: config.concurrency, reads: readsSample, maxKnownSeries: labelCardinality, onBatch: (batch) => this.toEdges(batch, edges) },
      metrics,
      log,
    );
    this.scraper.setTargets('static', config.targets.map((target) => ({ ...target, origin: 'static' as const })));
    const { kubernetes } = config;
    if (kubernetes.enabled !== false) {
      const api = kubernetesApiFromEnvironment(env, kubernetes.apiServer);
      if (api) {
        this.discovery = new KubernetesDiscovery(
          { api, namespaces: kubernetes.namespaces, refreshIntervalMs: kubernetes.refreshIntervalMs, onTargets: (targets) => this.scraper.setTargets('kubernetes', targets) },
          metrics,
          log,
        );
      } else if (kubernetes.enabled === true) {
        log.warn('scrape.kubernetes.enabled is true but no Kubernetes API is reachable from here (no KUBERNETES_SERVICE_HOST and service-account token, no scrape.kubernetes.api_server): pod discovery is off');
      }
    }
  }

  start(): void {
    this.scraper.start();
    this.discovery?.start();
    // Series of targets that went away keep no state for ever.
    this.staleTimer = setInterval(() => this.converter.dropStale(), 60_000);
    this.staleTimer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.staleTimer);
    await this.discovery?.stop();
    await this.scraper.stop();
  }

  private toEdges(batch: SampleBatch, edges: EdgeSink): void {
    const converted = this.converter.convert(batch);
    if (converted.increments.length > 0) edges.addIncrements(converted.increments, 'prometheus');
    const series = this.metrics.scrapeSeries;
    if (converted.counted > 0) series.inc({ result: 'counted' }, converted.counted);
    if (converted.baselines > 0) series.inc({ result: 'baseline' }, converted.baselines);
    if (converted.resets > 0) series.inc({ result: 'reset' }, converted.resets);
    if (converted.skipped > 0) series.inc({ result: 'skipped' }, converted.skipped);
    if (converted.dropped > 0) {
      series.inc({ result: 'dropped' }, converted.dropped);
      // At most one line per 5 minutes while it goes on (the counter keeps the tally).
      if (batch.receivedAtMs - this.droppedLoggedAtMs >= 300_000) {
        this.droppedLoggedAtMs = batch.receivedAtMs;
        this.log.warn(
          { target: batch.source, dropped: converted.dropped, example: converted.droppedExample },
          `scrape: dropped ${converted.dropped} new series of ${batch.source}: limits.label_cardinality (${this.converter.maxSeries} series) reached; tracked series still count (meshlens_scrape_series_total{result="dropped"})`,
        );
      }
    }
  }
}
